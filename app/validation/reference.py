"""The reference validator (the `jsonschema` package) with every regex run by RE2.

The package matches `pattern` and `patternProperties` with Python's backtracking `re`,
which holds the GIL: `"^(a+)+$"` against 27 "a"s and a "!" took 5.3 s, doubling with each
"a". The four keywords that match patterns are replaced here by the same rules on RE2,
which runs in time linear in the input and refuses lookarounds and backreferences.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError


def reference_validator(schema: dict | bool) -> Draft202012Validator:
    """The `jsonschema` package's validator, with paths kept for `false` subschemas."""
    return _LinearDraft202012(_false_as_not(schema), format_checker=FormatChecker())


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is our answer, not a line on stderr


@lru_cache(maxsize=4096)
def _linear(pattern: str) -> Any:
    """Compile `pattern` for RE2, which matches in linear time (it never backtracks)."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _unsafe_reason(pattern: str) -> str | None:
    try:
        _linear(pattern)
    except re2.error as exc:
        reason = exc.args[0]
        return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    return None


# Values that are data, not subschemas: a "pattern" key inside them is no keyword.
_DATA_KEYWORDS = {"const", "enum", "default", "examples"}


def unsafe_patterns(schema: object, at: tuple = ()) -> Iterator[tuple[str, tuple, str]]:
    """Yield (pattern, path parts, reason) for each `pattern` or `patternProperties` key
    of `schema` that RE2 cannot compile."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from unsafe_patterns(item, (*at, index))
        return
    if not isinstance(schema, dict):
        return
    found = []
    if isinstance(schema.get("pattern"), str):
        found.append((schema["pattern"], (*at, "pattern")))
    if isinstance(schema.get("patternProperties"), dict):
        found += [(key, (*at, "patternProperties", key)) for key in schema["patternProperties"]]
    for pattern, parts in found:
        reason = _unsafe_reason(pattern)
        if reason is not None:
            yield pattern, parts, reason
    for key, value in schema.items():
        if key not in _DATA_KEYWORDS:
            yield from unsafe_patterns(value, (*at, key))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Iterator:
    if validator.is_type(instance, "string") and not _linear(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict, instance: Any, schema: dict) -> Iterator:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _linear(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: dict) -> Iterator:
    # The package's own version matches patternProperties with `re`; same messages.
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = [_linear(pattern) for pattern in schema.get("patternProperties", {})]
    extras = [
        key
        for key in instance
        if key not in properties and not any(p.search(key) for p in patterns)
    ]
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(key) for key in sorted(extras))
            regexes = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {regexes}")
        else:
            keys = sorted(extras, key=str)
            verb = "was" if len(keys) == 1 else "were"
            listed = ", ".join(repr(key) for key in keys)
            yield ValidationError(
                f"Additional properties are not allowed ({listed} {verb} unexpected)"
            )


def _unevaluated_properties(validator: Any, rest: Any, instance: Any, schema: dict) -> Iterator:
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    failing = [
        key
        for key in instance
        if key not in evaluated
        and not _passes(validator.descend(instance[key], rest, path=key, schema_path=key))
    ]
    if failing and rest is False:
        keys = sorted(failing, key=str)
        verb = "was" if len(keys) == 1 else "were"
        listed = ", ".join(repr(key) for key in keys)
        yield ValidationError(
            f"Unevaluated properties are not allowed ({listed} {verb} unexpected)"
        )
    elif failing:
        verb = "was" if len(failing) == 1 else "were"
        listed = ", ".join(repr(key) for key in failing)
        yield ValidationError(
            "Unevaluated properties are not valid under the given schema "
            f"({listed} {verb} unevaluated and invalid)"
        )


def _evaluated_keys(  # noqa: C901 - mirrors jsonschema's own find_evaluated_property_keys
    validator: Any, instance: dict, schema: Any
) -> set[str]:
    """The keys `schema` evaluates: the package's rule, with RE2 for patternProperties."""
    if not isinstance(schema, dict):
        return set()
    keys: set[str] = set()
    for keyword in ("$ref", "$dynamicRef"):
        if keyword in schema:
            # `_resolver` is how the package itself follows a reference here.
            resolved = validator._resolver.lookup(schema[keyword])
            scoped = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
            keys |= _evaluated_keys(scoped, instance, resolved.contents)
    if isinstance(schema.get("properties"), dict):
        keys |= schema["properties"].keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if keyword in schema:
            sub = schema[keyword]
            keys |= {k for k, v in instance.items() if _passes(validator.descend(v, sub))}
    for pattern in schema.get("patternProperties", {}):
        keys |= {key for key in instance if _linear(pattern).search(key)}
    for name, sub in schema.get("dependentSchemas", {}).items():
        if name in instance:
            keys |= _evaluated_keys(validator, instance, sub)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(keyword, []):
            if _passes(validator.descend(instance, sub)):
                keys |= _evaluated_keys(validator, instance, sub)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            keys |= _evaluated_keys(validator, instance, schema.get("then", True))
        else:
            keys |= _evaluated_keys(validator, instance, schema.get("else", True))
    return keys


def _passes(errors: Iterator) -> bool:
    return next(errors, None) is None


_LinearDraft202012 = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "unevaluatedProperties": _unevaluated_properties,
    },
)


# Keywords whose value is a subschema, a list of them, or a map of them.
_SUBSCHEMA = {
    "contains",
    "if",
    "then",
    "else",
    "items",
    "not",
    "propertyNames",
}
_SUBSCHEMA_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SUBSCHEMA_MAP = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}


def _false_as_not(schema: object, root: bool = True) -> object:
    """Rewrite nested `false` subschemas as `{"not": {}}`: same verdict, but `jsonschema`
    then keeps the instance path in the error (it drops it for a bare `false`)."""
    if schema is False and not root:
        return {"not": {}}
    if not isinstance(schema, dict):
        return schema
    rewritten = dict(schema)
    for key, value in schema.items():
        if key in _SUBSCHEMA:
            rewritten[key] = _false_as_not(value, root=False)
        elif key in _SUBSCHEMA_LIST and isinstance(value, list):
            rewritten[key] = [_false_as_not(item, root=False) for item in value]
        elif key in _SUBSCHEMA_MAP and isinstance(value, dict):
            rewritten[key] = {name: _false_as_not(sub, root=False) for name, sub in value.items()}
    return rewritten
