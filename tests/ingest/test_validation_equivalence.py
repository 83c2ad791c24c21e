"""The hot path validates with jsonschema-rs; the `jsonschema` package is the reference.

On generated events, both must give the same verdict and point at the same places
(as JSON Pointers) for every schema the suite and the product ship.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from app.cli.standalone import DEMO_SCHEMA
from app.validation.schemas import (
    compile_validator,
    float_rounding_only,
    json_pointer,
    reference_validator,
    validate,
)
from bench import workload
from tests.ingest.test_validation import ORDER_SCHEMA
from tests.support.factories import USER_LOGIN_SCHEMA

CHECKOUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "eventName": {"const": "checkout"},
        "eventId": {"type": "string", "minLength": 1, "maxLength": 64},
        "userId": {"type": "integer", "minimum": 1},
        "total": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
        "coupon": {"type": ["string", "null"], "pattern": "^[A-Z0-9]{4,12}$"},
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 5,
            "items": {"$ref": "#/$defs/item"},
        },
        "device": {
            "type": "object",
            "properties": {"os": {"enum": ["ios", "android"]}, "debug": False},
            "required": ["os"],
            "additionalProperties": {"type": "string"},
        },
    },
    "required": ["eventName", "userId", "total"],
    "additionalProperties": False,
    "$defs": {
        "item": {
            "type": "object",
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            "required": ["sku", "qty"],
        }
    },
}


SCHEMAS = {
    "user_login": USER_LOGIN_SCHEMA,
    "order": ORDER_SCHEMA,
    "checkout": CHECKOUT_SCHEMA,
    "demo": DEMO_SCHEMA,
    "load_test": workload.SCHEMA,
}

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.sampled_from(
        ["user_login", "checkout", "password", "google", "ios", "android", "EUR", "ABCD1234", ""]
    ),
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _shaped_like(schema: object, depth: int = 0) -> st.SearchStrategy:
    """Values that follow the schema's shape often and break it sometimes."""
    if not isinstance(schema, dict) or depth > 3:
        return ANY_JSON
    options = [ANY_JSON]
    if "const" in schema:
        options.append(st.just(schema["const"]))
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    properties = schema.get("properties") or {}
    if properties:
        fields = {name: _shaped_like(sub, depth + 1) for name, sub in properties.items()}
        required = {name: fields[name] for name in schema.get("required", []) if name in fields}
        optional = {name: value for name, value in fields.items() if name not in required}
        well_formed = st.fixed_dictionaries(required, optional=optional)
        with_extras = st.tuples(
            st.fixed_dictionaries({}, optional=fields),
            st.dictionaries(st.text(max_size=5), SCALARS, max_size=2),
        ).map(lambda parts: {**parts[1], **parts[0]})
        options += [well_formed, well_formed, with_extras]
    items = schema.get("items")
    if isinstance(items, dict):
        if "$ref" in items:
            items = schema_root_defs(items["$ref"])
        options.append(st.lists(_shaped_like(items, depth + 1), max_size=6))
    if schema.get("type") == "string":
        options.append(st.text(min_size=1, max_size=10))
    if schema.get("type") == "integer":
        options.append(st.integers(min_value=-5, max_value=10))
    if schema.get("type") == "number":
        options.append(st.sampled_from([0, 0.01, 1.5, 19.99, -3, 0.005]))
    return st.one_of(options)


def schema_root_defs(ref: str) -> dict:
    name = ref.rsplit("/", 1)[-1]
    return CHECKOUT_SCHEMA["$defs"][name]


def _reference_locations(validator: Draft202012Validator, instance: object) -> set[tuple]:
    """Where the reference implementation finds errors, described the way the product does."""
    found = set()
    for error in validator.iter_errors(instance):
        if float_rounding_only(error):
            continue
        path = json_pointer(error.absolute_path)
        if error.validator == "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            found.update((f"{path}/{json_pointer([name])[1:]}", "required") for name in missing)
        else:
            forbidden = error.validator is None or (
                error.validator == "not" and error.validator_value == {}
            )
            keyword = "false" if forbidden else error.validator
            found.add((path, keyword))
    return found


# Realistic starting points for the strict load-test schema, which random shapes rarely
# satisfy; hypothesis then mutates them (a field replaced by any JSON value).
SEEDS = {
    "load_test": [
        {"eventId": f"e-{seed}", **workload.valid_event(random.Random(seed))} for seed in range(20)
    ],
    "checkout": [
        {
            "eventName": "checkout",
            "eventId": "c-1",
            "userId": 7,
            "total": 19.99,
            "currency": "EUR",
            "coupon": None,
            "items": [{"sku": "A-1", "qty": 2}],
            "device": {"os": "ios", "model": "iPhone15,2"},
        },
        {"eventName": "checkout", "userId": 1, "total": 0.01},
    ],
}


def _events_for(name: str) -> st.SearchStrategy:
    shaped = _shaped_like(SCHEMAS[name])
    seeds = SEEDS.get(name)
    if not seeds:
        return shaped
    mutated = st.sampled_from(seeds).flatmap(
        lambda seed: st.tuples(st.sampled_from(sorted(seed)), ANY_JSON).map(
            lambda change: {**seed, change[0]: change[1]}
        )
    )
    return st.one_of(shaped, st.sampled_from(seeds), mutated)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_both_validators_agree_on_generated_events(name):
    schema = SCHEMAS[name]
    reference = reference_validator(schema)
    fast = compile_validator(schema)
    verdicts = set()

    @settings(
        max_examples=400,
        deadline=None,
        derandomize=True,  # the same events on every run: CI never flakes on a lucky draw
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(_events_for(name))
    def check(event):
        errors = validate(fast, event, max_errors=1000)
        expected = _reference_locations(reference, event)
        verdicts.add(not errors)
        assert (not errors) == (not expected), json.dumps(event)
        assert {(e["path"], e["keyword"]) for e in errors} == expected, json.dumps(event)
        assert all(e["path"] == "" or e["path"].startswith("/") for e in errors)

    check()
    assert verdicts == {True, False}, "the generator must produce valid and invalid events"
