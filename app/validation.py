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
    return Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)


def validate(validator: Draft202012Validator, instance: Any, max_errors: int = 50) -> list[dict]:
    """Return every error as {"path", "keyword", "message"}, path a JSON Pointer."""
    errors: list[dict] = []
    for error in validator.iter_errors(instance):
        errors.extend(_describe(error))
        if len(errors) >= max_errors:
            break
    errors.sort(key=lambda e: (e["path"], e["keyword"]))
    return errors[:max_errors]


def _describe(error: ValidationError) -> Iterable[dict]:
    path = json_pointer(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        # Point at the missing property itself, one error each, like Ajv does.
        for name in error.validator_value:
            if name not in error.instance:
                yield {
                    "path": f"{path}/{_escape(name)}",
                    "keyword": "required",
                    "message": f"'{name}' is a required property",
                }
        return
    yield {"path": path, "keyword": str(error.validator), "message": error.message}


def json_pointer(parts: Iterable[Any]) -> str:
    """Turn a sequence of keys and indexes into an RFC 6901 JSON Pointer."""
    return "".join("/" + _escape(str(part)) for part in parts)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
