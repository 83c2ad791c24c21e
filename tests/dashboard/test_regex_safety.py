"""No user-supplied pattern runs on a backtracking engine, on any path.

`^(a+)+$` against 27 "a"s and a "!" took Python's `re` 5.3 s (doubling per "a") while
holding the GIL, so one request froze every thread of a gunicorn worker. These tests run
the web app in a real gunicorn worker with 40 "a"s and check that the answer comes back
while another client of the same worker keeps being served.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests
from jsonschema import Draft202012Validator

from app.validation import InvalidSchema, check_schema, compile_validator, validate
from app.validation.reference import reference_validator
from tests.support.servers import gunicorn

EVIL = {"properties": {"s": {"pattern": "^(a+)+$"}}}
EVIL_PAYLOAD = {"": 0, "s": "a" * 40 + "!"}  # the "" key sends errors to the reference path


def _in_thread(call) -> dict:
    """Run `call` in a daemon thread; return {"thread", "result"} to join later."""
    outcome: dict = {}

    def run() -> None:
        outcome["result"] = call()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def _probe(url: str, stop: threading.Event, served: list[float]) -> None:
    """Ask the same worker for a cheap page again and again; record each answer."""
    while not stop.is_set():
        try:
            if requests.get(f"{url}/auth/login", timeout=3).status_code == 200:
                served.append(time.monotonic())
        except requests.RequestException:
            pass
        time.sleep(0.02)


@pytest.fixture(scope="module")
def one_worker(app):
    """gunicorn with one worker (8 threads): a frozen thread would freeze them all."""
    with gunicorn(workers=1) as url:
        yield url


def _signed_in_session(url: str, team: dict) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.cookies.set("session", team["owner"].session_cookie(), domain="127.0.0.1", path="/")
    html = session.get(f"{url}/apps/{team['app_id']}", timeout=10).text
    return session, re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_try_it_with_a_catastrophic_pattern_answers_while_the_worker_keeps_serving(
    app, one_worker, team
):
    session, token = _signed_in_session(one_worker, team)
    stop, served = threading.Event(), []
    prober = threading.Thread(target=_probe, args=(one_worker, stop, served), daemon=True)
    prober.start()
    attempt = _in_thread(
        lambda: session.post(
            f"{one_worker}/api/apps/{team['app_id']}/schemas/try",
            json={"schema": EVIL, "payload": EVIL_PAYLOAD},
            headers={"X-CSRFToken": token},
            timeout=30,
        )
    )
    attempt["thread"].join(timeout=20)
    started = len(served)
    time.sleep(0.5)  # the same worker still answers others afterwards
    stop.set()
    prober.join(timeout=10)
    assert not attempt["thread"].is_alive(), "try-it did not answer within 20 s"
    answer = attempt["result"]
    assert answer.status_code == 200, answer.text
    assert answer.json()["errors"] == [
        {
            "path": "/s",
            "keyword": "pattern",
            "message": f"'{EVIL_PAYLOAD['s']}' does not match '^(a+)+$'",
        }
    ]
    assert len(served) > started


def test_ingest_with_a_saved_catastrophic_pattern_answers_while_the_worker_keeps_serving(
    app, one_worker, make_tracked_app
):
    tracked = make_tracked_app({"signup": EVIL})
    stop, served = threading.Event(), []
    prober = threading.Thread(target=_probe, args=(one_worker, stop, served), daemon=True)
    prober.start()
    attempts = [
        _in_thread(
            lambda: requests.post(
                f"{one_worker}/api/logs/{tracked['id']}",
                json={"eventName": "signup", **EVIL_PAYLOAD},
                headers={"X-API-Key": tracked["key"]},
                timeout=30,
            )
        )
        for _ in range(3)
    ]
    for attempt in attempts:
        attempt["thread"].join(timeout=20)
    time.sleep(0.5)
    stop.set()
    prober.join(timeout=10)
    assert all(not attempt["thread"].is_alive() for attempt in attempts)
    for attempt in attempts:
        answer = attempt["result"]
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "invalid"
        assert [error["path"] for error in answer.json()["errors"]] == ["/s"]
    assert served, "the worker served nobody else meanwhile"


AWKWARD_KEYS = {
    "patternProperties": {"^(a+)+$|^$|/|~": {"type": "string"}},
    "additionalProperties": {"$ref": "#"},
}


@pytest.mark.parametrize(
    ("instance", "paths"),
    [
        ({"": 0}, ["/"]),
        ({"a/b": 0}, ["/a~1b"]),
        ({"~0": 0}, ["/~00"]),
        ({"x": {"": 0, "a/b": 0}}, ["/x/", "/x/a~1b"]),
        ({"": 0, EVIL_PAYLOAD["s"]: {"~0": 0}}, ["/", f"/{EVIL_PAYLOAD['s']}/~00"]),
    ],
)
def test_error_paths_stay_exact_for_awkward_keys(instance, paths):
    found = validate(compile_validator(AWKWARD_KEYS), instance)
    assert [error["path"] for error in found] == paths


@pytest.mark.parametrize(
    "schema",
    [
        AWKWARD_KEYS,
        {"properties": {"s": {"pattern": "^[a-z]+$"}}, "additionalProperties": False},
        {
            "patternProperties": {"^x-": {"type": "string", "pattern": "^[a-z]+$"}},
            "additionalProperties": False,
        },
        {"patternProperties": {"^x-": {"type": "string"}}, "unevaluatedProperties": False},
        {
            "allOf": [{"patternProperties": {"^x-": True}}, {"properties": {"s": True}}],
            "unevaluatedProperties": {"type": "integer"},
        },
        {
            "if": {"patternProperties": {"^x-": {"type": "string"}}},
            "then": {"patternProperties": {"^y-": True}},
            "unevaluatedProperties": False,
        },
    ],
)
def test_the_reference_validator_on_re2_lists_what_the_stock_package_lists(schema):
    stock = Draft202012Validator(schema)
    linear = reference_validator(schema)
    for instance in (
        {"": 1, "x-a": "ok", "x-b": "NO", "s": "abc", "y-z": 1, "t": 2},
        {"": "", "x-": 1, "s": "A", "t": "x"},
        {"a/b": {"~0": 0}, "x-1": "q"},
    ):
        expected = sorted((list(e.absolute_path), e.message) for e in stock.iter_errors(instance))
        listed = sorted((list(e.absolute_path), e.message) for e in linear.iter_errors(instance))
        assert listed == expected


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"pattern": "(?=a)a"}, "/pattern"),
        ({"properties": {"s": {"pattern": "(a)\\1"}}}, "/properties/s/pattern"),
        ({"patternProperties": {"^(?!x)": {}}}, "/patternProperties/^(?!x)"),
        ({"$defs": {"d": {"items": {"pattern": "(?<=a)b"}}}}, "/$defs/d/items/pattern"),
        ({"anyOf": [{}, {"pattern": "(?<!a)b"}]}, "/anyOf/1/pattern"),
    ],
)
def test_a_pattern_that_needs_backtracking_is_refused_with_the_reason(schema, where):
    with pytest.raises(InvalidSchema) as refused:
        check_schema(schema)
    assert f"(at {where}) cannot run in linear time" in str(refused.value)
    assert "lookarounds and backreferences are not supported" in str(refused.value)


def test_pattern_looking_data_is_not_a_pattern():
    check_schema({"const": {"pattern": "(?=a)"}, "enum": [{"pattern": "(a)\\1"}]})
    check_schema({"properties": {"pattern": {"type": "string", "pattern": "^p"}}})


def test_saving_a_schema_with_a_lookahead_answers_400_saying_why(app, team):
    owner = team["owner"]
    token = owner.csrf(f"/apps/{team['app_id']}")
    answer = owner.client.post(
        f"/api/apps/{team['app_id']}/schemas",
        json={"event_name": "signup", "schema": {"pattern": "^(?=.*\\d).+$"}},
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 400
    assert "cannot run in linear time" in answer.get_json()["message"]
