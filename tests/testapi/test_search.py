"""POST /api/apps/<app>/events/search: filters, keyset pages, bad filters, test runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

INVALID = [{"path": "/userId", "keyword": "type", "message": "not an integer"}]
# label -> the stored event (fields of make_record, plus minutes_ago).
EVENTS = {
    "old login": {"minutes_ago": 90, "payload": {"eventName": "user_login", "type": "track"}},
    "pro login": {
        "minutes_ago": 30,
        "payload": {"eventName": "user_login", "type": "track", "properties": {"plan": "pro"}},
    },
    "free login": {
        "minutes_ago": 20,
        "status": "invalid",
        "errors": INVALID,
        "payload": {"eventName": "user_login", "type": "track", "properties": {"plan": "free"}},
    },
    "identify": {
        "minutes_ago": 10,
        "event_name": "identify",
        "status": "unplanned",
        "payload": {"type": "identify", "traits": {"seats": 3, "beta": True}},
    },
    "run A": {"minutes_ago": 5, "test_run": "run-A", "payload": {"eventName": "user_login"}},
    "run B": {"minutes_ago": 4, "test_run": "run-B", "payload": {"eventName": "user_login"}},
}


@pytest.fixture
def seeded(tracked, seed) -> dict:
    ids = seed(tracked["id"], list(EVENTS.values()))
    return {**tracked, "labels": dict(zip(ids, EVENTS, strict=True))}


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def search(client, tracked: dict, body: object):
    return client.post(
        f"/api/apps/{tracked['id']}/events/search", json=body, headers=tracked["bearer"]
    )


FILTERS = [
    ("no filter", {}, ["run B", "run A", "identify", "free login", "pro login", "old login"]),
    ("event name", {"event_name": "identify"}, ["identify"]),
    ("segment type", {"type": "track"}, ["free login", "pro login", "old login"]),
    ("status", {"status": "invalid"}, ["free login"]),
    ("payload field", {"field": "properties.plan", "equals": "pro"}, ["pro login"]),
    ("payload number", {"field": "traits.seats", "equals": 3}, ["identify"]),
    ("payload boolean", {"field": "traits.beta", "equals": True}, ["identify"]),
    ("number is not text", {"field": "traits.seats", "equals": "3"}, []),
    ("since", {"since": "{60}"}, ["run B", "run A", "identify", "free login", "pro login"]),
    ("until", {"until": "{15}"}, ["free login", "pro login", "old login"]),
    ("since and until", {"since": "{60}", "until": "{15}"}, ["free login", "pro login"]),
    ("test run", {"test_run": "run-A"}, ["run A"]),
    ("test run and name", {"test_run": "run-B", "event_name": "identify"}, []),
    ("type and status", {"type": "track", "status": "valid"}, ["pro login", "old login"]),
]


@pytest.mark.parametrize(("case", "body", "expected"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters(client, seeded, case, body, expected):
    body = {
        key: _ago(int(value[1:-1])) if isinstance(value, str) and value.startswith("{") else value
        for key, value in body.items()
    }
    answer = search(client, seeded, body)
    assert answer.status_code == 200, answer.get_json()
    rows = answer.get_json()["events"]
    assert [seeded["labels"][row["id"]] for row in rows] == expected
    for row in rows:  # each with its verdict, errors and payload
        assert {"status", "errors", "payload", "received_at", "test_run"} <= set(row)


def test_an_invalid_event_comes_with_its_errors(client, seeded):
    [row] = search(client, seeded, {"status": "invalid"}).get_json()["events"]
    assert row["errors"] == INVALID and row["status"] == "invalid"


BAD = [
    ("not an object", ["status"], "JSON object"),
    ("unknown filter", {"evnt_name": "x"}, "unknown filter 'evnt_name'"),
    ("bad status", {"status": "ok"}, "status must be one of"),
    ("field without equals", {"field": "a.b"}, '"field" and "equals" go together'),
    ("equals without field", {"equals": 1}, '"field" and "equals" go together'),
    ("empty path segment", {"field": "a..b", "equals": 1}, '"field" must have'),
    ("quote in path", {"field": 'a."b', "equals": 1}, '"field" must have'),
    ("path not text", {"field": 3, "equals": 1}, '"field" must be a JSON path'),
    ("since not a date", {"since": "yesterday"}, "RFC 3339"),
    ("since without zone", {"since": "2026-01-01T00:00:00"}, "time zone"),
    ("since after until", {"since": "2026-02-01T00:00Z", "until": "2026-01-01T00:00Z"}, "before"),
    ("limit too big", {"limit": 201}, "between 1 and 200"),
    ("limit zero", {"limit": 0}, "between 1 and 200"),
    ("limit text", {"limit": "10"}, "between 1 and 200"),
    ("bad cursor", {"cursor": "page-2"}, "next_cursor"),
    ("test run not text", {"test_run": 5}, '"test_run" must be a string'),
]


@pytest.mark.parametrize(("case", "body", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_filters_are_400_with_a_reason(client, tracked, case, body, reason):
    answer = search(client, tracked, body)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_request"
    assert reason in answer.get_json()["message"]


def test_a_body_that_is_not_json_is_400(client, tracked):
    answer = client.post(
        f"/api/apps/{tracked['id']}/events/search",
        data="status=valid",
        headers={**tracked["bearer"], "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400 and "JSON" in answer.get_json()["message"]


def test_keyset_pages_walk_every_event_once_newest_first(client, tracked, seed):
    ids = seed(tracked["id"], [{"minutes_ago": 10 - n} for n in range(7)])
    seen, cursor, pages = [], None, 0
    while True:
        body = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = search(client, tracked, body).get_json()
        seen += [row["id"] for row in page["events"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["events"]) == 3 and cursor == page["events"][-1]["id"]
    assert pages == 3
    assert seen == list(reversed(ids))


def test_a_payload_search_without_since_or_test_run_reads_the_last_day(client, tracked, seed):
    seed(tracked["id"], [{"minutes_ago": 26 * 60, "payload": {"type": "track"}}])
    answer = search(client, tracked, {"type": "track"}).get_json()
    assert answer["events"] == []
    assert answer["since"] is not None
    older = search(client, tracked, {"type": "track", "since": _ago(27 * 60)}).get_json()
    assert len(older["events"]) == 1
