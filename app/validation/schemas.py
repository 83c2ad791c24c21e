"""Validate events against JSON Schema draft 2020-12. No Flask, no database.

Schemas are checked against the meta-schema with the `jsonschema` package (its messages
are the clearest), and events are validated with `jsonschema-rs`, a compiled validator
that answers a valid event in a few microseconds and an invalid one, with every error,
in a few tens. Both follow the same specification; `tests/test_validation_equivalence.py`
checks that they agree on verdicts and error locations.

No user-supplied regular expression ever runs on a backtracking engine: `"^(a+)+$"` against
forty "a"s and a "!" takes Python's `re` minutes while holding the GIL (a whole gunicorn
worker frozen). jsonschema-rs runs patterns on Rust's linear `regex` engine (RegexOptions,
not the default fancy-regex, which backtracks for lookarounds), and the reference validator
runs them on RE2 (`reference.py`). A schema whose patterns RE2 cannot compile (lookarounds,
backreferences) is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from itertools import islice
from typing import Any

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from app.validation.reference import reference_validator, unsafe_patterns

# jsonschema-rs names a few error kinds differently from the keyword that failed.
_KEYWORD_NAMES = {"falseSchema": "false"}


class InvalidSchema(ValueError):
    """A schema that does not conform to the draft 2020-12 meta-schema."""


def check_schema(schema: Any) -> None:
    """Raise InvalidSchema, with the reason, unless `schema` is a usable 2020-12 schema."""
    if not isinstance(schema, dict | bool):
        raise InvalidSchema("a schema must be a JSON object (or a boolean)")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = json_pointer(exc.absolute_path) or "/"
        raise InvalidSchema(f"{exc.message} (at {where})") from None
    compile_validator(schema)


class EventValidator:
    """A compiled schema: jsonschema-rs for speed, the reference package for one corner.

    jsonschema-rs drops empty-string property names from error paths (`{"": 1}` reports
    `""` instead of `"/"`), so errors in events holding such a key are listed by the
    reference implementation, which is slower but exact.
    """

    __slots__ = ("schema", "fast", "_reference")

    def __init__(self, schema: dict | bool) -> None:
        for pattern, parts, reason in unsafe_patterns(schema):
            raise InvalidSchema(
                f"the pattern {pattern!r} (at {json_pointer(parts)}) cannot run in linear "
                f"time: {reason}; lookarounds and backreferences are not supported"
            )
        self.schema = schema
        try:
            self.fast = jsonschema_rs.Draft202012Validator(
                schema,
                validate_formats=True,
                offline=True,
                pattern_options=jsonschema_rs.RegexOptions(),  # linear time, no backtracking
            )
        except (ValueError, jsonschema_rs.ValidationError) as exc:
            # Valid per the meta-schema but unusable: an unresolvable $ref, a regex that
            # ECMA-262 does not accept, and the like.
            reason = str(exc).split("\n", 1)[0]
            raise InvalidSchema(f"the schema cannot be compiled: {reason}") from None
        self._reference: Draft202012Validator | None = None

    def is_valid(self, instance: Any) -> bool:
        return self.fast.is_valid(instance)

    def reference(self) -> Draft202012Validator:
        if self._reference is None:
            self._reference = reference_validator(self.schema)
        return self._reference


def compile_validator(schema: dict | bool) -> EventValidator:
    """Build a reusable validator; compile once per schema version, not per event.

    Formats are asserted (an `"format": "email"` field must hold an address), and `$ref`
    never fetches anything over the network.
    """
    return EventValidator(schema)


def validate(validator: EventValidator, instance: Any, max_errors: int = 50) -> list[dict]:
    """Return every error as {"path", "keyword", "message"}, path a JSON Pointer."""
    if validator.is_valid(instance):
        return []
    errors: list[dict] = []
    if _has_empty_key(instance):
        reference_errors = validator.reference().iter_errors(instance)
        kept = (error for error in reference_errors if not float_rounding_only(error))
        errors = list(islice(map(_describe_reference, kept), max_errors))
    if not errors:  # the usual case, and a guarantee that an invalid event lists an error
        errors = list(islice(map(_describe, validator.fast.iter_errors(instance)), max_errors))
    # The message breaks ties: iteration order follows the payload's key order, which a
    # stored (jsonb) payload does not keep, and a re-check must list the same errors.
    errors.sort(key=lambda e: (e["path"], e["keyword"], e["message"]))
    return errors


def _describe(error: jsonschema_rs.ValidationError) -> dict:
    path = json_pointer(error.instance_path)
    kind = error.kind
    if kind.name == "required":
        # Point at the missing property itself, not at the object that lacks it.
        path = f"{path}/{_escape(str(kind.property))}"
    keyword = _KEYWORD_NAMES.get(kind.name, kind.name)
    return {"path": path, "keyword": keyword, "message": error.message}


def _describe_reference(error: ValidationError) -> dict:
    path = json_pointer(error.absolute_path)
    keyword = "false" if error.validator in (None, "not") and error.validator_value == {} else None
    keyword = keyword or str(error.validator)
    if keyword == "required" and isinstance(error.instance, dict):
        # One error per missing property; the message names it.
        for name in error.validator_value:
            if name not in error.instance and error.message == f"{name!r} is a required property":
                path = f"{path}/{_escape(str(name))}"
                break
    return {"path": path, "keyword": keyword, "message": error.message}


def float_rounding_only(error: ValidationError) -> bool:
    """True for a `jsonschema` multipleOf error that only binary floating point causes
    (19.99 "is not a multiple of" 0.01); jsonschema-rs, like a person, accepts it."""
    if error.validator != "multipleOf" or not isinstance(error.instance, float):
        return False
    return Decimal(str(error.instance)) % Decimal(str(error.validator_value)) == 0


def _has_empty_key(value: Any) -> bool:
    # In JSON text `"":` can only be an empty key: quotes inside strings are escaped.
    return b'"":' in orjson.dumps(value)


def json_pointer(parts: Iterable[Any]) -> str:
    """Turn a sequence of keys and indexes into an RFC 6901 JSON Pointer."""
    return "".join("/" + _escape(str(part)) for part in parts)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
