"""Unit tests of app.validation: schema checks and error reports with JSON Pointer paths."""

from __future__ import annotations

import pytest

from app.validation import (
    InvalidSchema,
    check_schema,
    compile_validator,
    json_pointer,
    validate,
)
from tests.support.factories import USER_LOGIN_SCHEMA

ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "userId": {"type": "integer"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"price": {"type": "number", "minimum": 0}},
                "required": ["price", "sku"],
            },
        },
        "a/b": {"type": "string"},
        "m~n": {"type": "string"},
    },
}


@pytest.mark.parametrize(
    "schema",
    [
        True,
        False,
        {},
        {"type": "object"},
        USER_LOGIN_SCHEMA,
        ORDER_SCHEMA,
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "array",
            "prefixItems": [{"type": "string"}, {"type": "integer"}],
            "items": False,
        },
        {"$defs": {"id": {"type": "integer"}}, "properties": {"userId": {"$ref": "#/$defs/id"}}},
    ],
)
def test_check_schema_accepts_valid_2020_12_schemas(schema):
    check_schema(schema)  # raises InvalidSchema when refused
    # An accepted schema is usable: it compiles and judges an event.
    validator = compile_validator(schema)
    assert isinstance(validate(validator, {"eventName": "user_login", "userId": 1}, 50), list)


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": 5}, "(at /type)"),
        ({"type": "objekt"}, "'objekt'"),
        ({"required": "userId"}, "(at /required)"),
        ({"minimum": "3"}, "(at /minimum)"),
        ({"properties": {"userId": {"type": 5}}}, "(at /properties/userId/type)"),
        ({"properties": {"a/b": {"minLength": -1}}}, "(at /properties/a~1b/minLength)"),
        ([], "must be a JSON object"),
        ("object", "must be a JSON object"),
        (5, "must be a JSON object"),
        (None, "must be a JSON object"),
    ],
)
def test_check_schema_refuses_invalid_schemas_with_a_reason(schema, reason):
    with pytest.raises(InvalidSchema) as caught:
        check_schema(schema)
    assert reason in str(caught.value)


def test_an_invalid_schema_can_be_caught_as_a_value_error():
    # Callers that only know ValueError (the CLI, form validation) still catch the refusal.
    with pytest.raises(ValueError, match="must be a JSON object"):
        check_schema([])


@pytest.mark.parametrize(
    ("parts", "pointer"),
    [
        ([], ""),
        (["userId"], "/userId"),
        (["items", 0, "price"], "/items/0/price"),
        (["a/b"], "/a~1b"),
        (["m~n"], "/m~0n"),
        (["~1"], "/~01"),
        ([""], "/"),
    ],
)
def test_json_pointer_escapes_per_rfc_6901(parts, pointer):
    assert json_pointer(parts) == pointer


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        ({"eventName": "user_login", "userId": 123}, []),
        ({"eventName": "user_login", "userId": 1, "method": "google"}, []),
        (
            {"eventName": "user_login", "userId": "123"},
            [("/userId", "type", '"123" is not of type "integer"')],
        ),
        (
            {"eventName": "user_login", "userId": 1, "method": "sms"},
            [("/method", "enum", '"sms" is not one of "password" or "google"')],
        ),
        (
            {"eventName": "user_login"},
            [("/userId", "required", '"userId" is a required property')],
        ),
        (
            {"eventName": "signup", "userId": 1},
            [("/eventName", "const", '"user_login" was expected')],
        ),
        ([1], [("", "type", '[1] is not of type "object"')]),
    ],
)
def test_validate_reports_path_keyword_and_message(instance, expected):
    errors = validate(compile_validator(USER_LOGIN_SCHEMA), instance)
    assert [(e["path"], e["keyword"], e["message"]) for e in errors] == expected


def test_validate_paths_reach_nested_items_and_escape_keys():
    instance = {
        "userId": "x",
        "items": [{"price": -1, "sku": "a"}, {"price": "free", "sku": "b"}],
        "a/b": 1,
        "m~n": 2,
    }
    errors = validate(compile_validator(ORDER_SCHEMA), instance)
    assert [(e["path"], e["keyword"]) for e in errors] == [
        ("/a~1b", "type"),
        ("/items/0/price", "minimum"),
        ("/items/1/price", "type"),
        ("/m~0n", "type"),
        ("/userId", "type"),
    ]


def test_format_is_checked():
    validator = compile_validator({"properties": {"email": {"type": "string", "format": "email"}}})
    assert [e["keyword"] for e in validate(validator, {"email": "not-an-address"})] == ["format"]
    assert validate(validator, {"email": "dev@example.com"}) == []


@pytest.mark.parametrize(
    ("required", "instance", "paths"),
    [
        (["userId"], {}, ["/userId"]),
        (["userId", "sessionId"], {"userId": 1}, ["/sessionId"]),
        (["userId", "sessionId"], {}, ["/sessionId", "/userId"]),
        (["a", "b", "c"], {"b": 1}, ["/a", "/c"]),
        (["x/y", "t~u"], {}, ["/t~0u", "/x~1y"]),
    ],
)
def test_required_errors_point_at_each_missing_property_once(required, instance, paths):
    validator = compile_validator({"type": "object", "required": required})
    errors = validate(validator, instance)
    assert [e["path"] for e in errors] == paths
    assert {e["keyword"] for e in errors} == {"required"}


def test_required_errors_inside_array_items_point_into_the_item():
    errors = validate(compile_validator(ORDER_SCHEMA), {"items": [{"sku": "a"}, {"price": 1}]})
    assert errors == [
        {
            "path": "/items/0/price",
            "keyword": "required",
            "message": '"price" is a required property',
        },
        {"path": "/items/1/sku", "keyword": "required", "message": '"sku" is a required property'},
    ]


def test_errors_are_sorted_by_path_then_keyword():
    schema = {
        "type": "object",
        "properties": {
            name: {"type": "integer", "minimum": 10, "multipleOf": 3} for name in "zyxa"
        },
    }
    errors = validate(compile_validator(schema), {"z": 1.5, "y": 2, "x": "s", "a": 1})
    keys = [(e["path"], e["keyword"]) for e in errors]
    assert keys == sorted(keys)
    assert keys[0][0] == "/a" and keys[-1][0] == "/z"


@pytest.mark.parametrize("max_errors", [1, 5, 50])
def test_errors_are_capped_at_max_errors(max_errors):
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    instance = {f"field{n:03}": "text" for n in range(200)}
    errors = validate(compile_validator(schema), instance, max_errors=max_errors)
    assert len(errors) == max_errors
    assert [e["path"] for e in errors] == sorted(e["path"] for e in errors)


def test_required_errors_do_not_crowd_out_other_errors_under_the_cap():
    schema = {
        "type": "object",
        "required": ["a", "b"],
        "properties": {"c": {"type": "integer"}, "d": {"type": "integer"}},
    }
    errors = validate(compile_validator(schema), {"c": "x", "d": "y"}, max_errors=4)
    assert [(e["path"], e["keyword"]) for e in errors] == [
        ("/a", "required"),
        ("/b", "required"),
        ("/c", "type"),
        ("/d", "type"),
    ]


def test_true_schema_accepts_everything():
    assert validate(compile_validator(True), {"anything": 1}) == []


def test_false_schema_refuses_everything_at_the_root():
    errors = validate(compile_validator(False), {"anything": 1})
    assert [e["path"] for e in errors] == [""]
    assert "False schema does not allow" in errors[0]["message"]


def test_false_subschema_points_at_the_forbidden_property():
    """`"debug": false` forbids a property; the error must say which one, with a real keyword."""
    validator = compile_validator({"type": "object", "properties": {"debug": False}})
    errors = validate(validator, {"debug": 1})
    assert len(errors) == 1
    assert errors[0]["path"] == "/debug"
    assert errors[0]["keyword"] != "None"
