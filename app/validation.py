"""Validate events against JSON Schema draft 2020-12. No Flask, no database."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

_FORMAT_CHECKER = FormatChecker()


class InvalidSchema(ValueError):
    """A schema that does not conform to the draft 2020-12 meta-schema."""


def check_schema(schema: Any) -> None:
    """Raise InvalidSchema, with the reason, unless `schema` is a valid 2020-12 schema."""
    if not isinstance(schema, dict | bool):
        raise InvalidSchema("a schema must be a JSON object (or a boolean)")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = json_pointer(exc.absolute_path) or "/"
        raise InvalidSchema(f"{exc.message} (at {where})") from None


def compile_validator(schema: dict | bool) -> Draft202012Validator:
    """Build a reusable validator; compile once per schema version, not per event."""
    return Draft202012Validator(_false_as_not(schema), format_checker=_FORMAT_CHECKER)


# Keywords whose value is a subschema, a list of them, or a map of them.
_SUBSCHEMA = {
    "additionalItems",
    "contains",
    "if",
    "then",
    "else",
    "items",
    "not",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
}
_SUBSCHEMA_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SUBSCHEMA_MAP = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}


def _false_as_not(schema: object, root: bool = True) -> object:
    """Rewrite nested `false` subschemas as `{"not": {}}`, same verdict, but errors keep
    the instance path (jsonschema drops it for a bare `false`)."""
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


def validate(validator: Draft202012Validator, instance: Any, max_errors: int = 50) -> list[dict]:
    """Return every error as {"path", "keyword", "message"}, path a JSON Pointer."""
    errors: list[dict] = []
    for error in validator.iter_errors(instance):
        errors.extend(_describe(error))
        if len(errors) >= max_errors:
            break
    errors.sort(key=lambda e: (e["path"], e["keyword"]))
    return errors[:max_errors]


def _describe(error: ValidationError) -> list[dict]:
    path = json_pointer(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        # jsonschema reports one error per missing property; point at that property.
        for name in error.validator_value:
            if name not in error.instance and error.message == f"{name!r} is a required property":
                return [
                    {
                        "path": f"{path}/{_escape(name)}",
                        "keyword": "required",
                        "message": error.message,
                    }
                ]
    keyword = "false" if error.validator is None else str(error.validator)
    return [{"path": path, "keyword": keyword, "message": error.message}]


def json_pointer(parts: Iterable[Any]) -> str:
    """Turn a sequence of keys and indexes into an RFC 6901 JSON Pointer."""
    return "".join("/" + _escape(str(part)) for part in parts)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
