"""The ingestion contract: 202 answers for single events and batches, and what gets stored."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Event
from tests.support.factories import USER_LOGIN_SCHEMA, app_with
from tests.support.processes import wait_for

QUEUED = "Event queued for processing"
SINGLE_FIELDS = {"event_id", "event_name", "status", "errors", "task_id", "message"}


@pytest.fixture(scope="module")
def inline_app(app):
    """The app in inline mode (CELERY_ENABLED=false): storage runs in the request."""
    with app_with(app, {"TESTING": True, "CELERY_ENABLED": False}) as built:
        yield built


@pytest.fixture(params=["queued", "inline"])
def client(request, app):
    """The contract holds in both modes: queued for the workers, and inline."""
    chosen = app if request.param == "queued" else request.getfixturevalue("inline_app")
    return chosen.test_client()


@pytest.fixture
def tracked(make_tracked_app):
    return make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})


def post_event(client, tracked: dict, event, headers: dict | None = None):
    return client.post(
        f"/api/logs/{tracked['id']}",
        json=event,
        headers=headers if headers is not None else {"X-API-Key": tracked["key"]},
    )


def post_batch(client, tracked: dict, events: list, headers: dict | None = None):
    return client.post(
        f"/api/logs/{tracked['id']}/batch",
        json={"events": events},
        headers=headers if headers is not None else {"X-API-Key": tracked["key"]},
    )


def post_gzip(client, url: str, key: str, document):
    return client.post(
        url,
        data=gzip.compress(json.dumps(document).encode()),
        content_type="application/json",
        headers={"X-API-Key": key, "Content-Encoding": "gzip"},
    )


def is_uuid(value: object) -> bool:
    try:
        return str(uuid.UUID(str(value))) == value
    except ValueError:
        return False


def stored_rows(app, event_ids: list[str]) -> dict[str, dict]:
    """Read the stored events with these server ids, as plain dicts."""
    with app.app_context():
        rows = db.session.scalars(
            select(Event).where(Event.id.in_([uuid.UUID(i) for i in event_ids]))
        )
        return {
            str(row.id): {
                "app_id": str(row.app_id),
                "event_name": row.event_name,
                "status": row.status,
                "errors": row.errors,
                "schema_version": row.schema_version,
                "payload": row.payload,
                "client_event_id": row.client_event_id,
            }
            for row in rows
        }


def count_client_event(app, app_id: str, client_event_id: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.app_id == uuid.UUID(app_id), Event.client_event_id == client_event_id)
        )


def task_state(client, task_id: str, key: str) -> dict:
    response = client.get(f"/api/tasks/{task_id}", headers={"X-API-Key": key})
    assert response.status_code == 200
    return response.get_json()


def wait_for_success(client, task_id: str, key: str) -> dict:
    return wait_for(
        lambda: (body := task_state(client, task_id, key))["state"] == "SUCCESS" and body,
        timeout=20,
        interval=0.1,
    )


@pytest.mark.parametrize(
    ("event", "status", "event_name", "errors"),
    [
        ({"eventName": "user_login", "userId": 123}, "valid", "user_login", []),
        (
            {"eventName": "user_login", "userId": 1, "method": "google", "extra": [1, {"a": 2}]},
            "valid",
            "user_login",
            [],
        ),
        (
            {"eventName": "user_login", "userId": "abc"},
            "invalid",
            "user_login",
            [("/userId", "type", '"abc" is not of type "integer"')],
        ),
        (
            {"eventName": "user_login"},
            "invalid",
            "user_login",
            [("/userId", "required", '"userId" is a required property')],
        ),
        ({"eventName": "screen_view", "screen": "home"}, "unplanned", "screen_view", []),
        (
            {"userId": 1},
            "invalid",
            None,
            [("/eventName", "required", '"eventName" is a required property')],
        ),
        (
            {"eventName": 5},
            "invalid",
            None,
            [("/eventName", "type", "'eventName' must be a non-empty string")],
        ),
        (
            {"eventName": "screen_view", "timestamp": "yesterday"},
            "invalid",
            "screen_view",
            [
                (
                    "/timestamp",
                    "format",
                    "'timestamp' must be an ISO 8601 date-time or epoch seconds/milliseconds",
                )
            ],
        ),
        (
            {"eventName": "screen_view", "timestamp": "2024-05-01T10:00:00Z", "eventId": 7},
            "unplanned",
            "screen_view",
            [],
        ),
    ],
)
def test_single_event_verdict(client, tracked, event, status, event_name, errors):
    response = post_event(client, tracked, event)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == status
    assert body["event_name"] == event_name
    assert [(e["path"], e["keyword"], e["message"]) for e in body["errors"]] == errors


def test_each_missing_required_property_is_reported_once(client, make_tracked_app):
    checkout = {"type": "object", "required": ["eventName", "amount", "currency"]}
    tracked = make_tracked_app(schemas={"checkout": checkout})
    body = post_event(client, tracked, {"eventName": "checkout"}).get_json()
    assert body["status"] == "invalid"
    assert [(e["path"], e["keyword"]) for e in body["errors"]] == [
        ("/amount", "required"),
        ("/currency", "required"),
    ]


def test_202_body_has_every_field(client, tracked):
    response = post_event(client, tracked, {"eventName": "user_login", "userId": "abc"})
    assert response.status_code == 202
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == SINGLE_FIELDS
    assert body["event_name"] == "user_login"
    assert body["status"] == "invalid"
    assert body["errors"] == [
        {"path": "/userId", "keyword": "type", "message": '"abc" is not of type "integer"'}
    ]
    assert is_uuid(body["event_id"])
    assert is_uuid(body["task_id"])
    assert body["message"] == QUEUED


def test_each_event_gets_its_own_ids(client, tracked):
    first = post_event(client, tracked, {"eventName": "screen_view"}).get_json()
    second = post_event(client, tracked, {"eventName": "screen_view"}).get_json()
    assert first["event_id"] != second["event_id"]
    assert first["task_id"] != second["task_id"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_authorization_bearer_key_works(client, tracked, scheme):
    headers = {"Authorization": f"{scheme} {tracked['key']}"}
    response = post_event(client, tracked, {"eventName": "user_login", "userId": 1}, headers)
    assert response.status_code == 202
    assert response.get_json()["status"] == "valid"


def test_bearer_with_a_wrong_key_is_refused(client, tracked):
    headers = {"Authorization": "Bearer lvd_not-the-key"}
    response = post_event(client, tracked, {"eventName": "user_login", "userId": 1}, headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_key"


MIXED_BATCH = [
    {"eventName": "user_login", "userId": 1},
    {"eventName": "user_login", "userId": "abc"},
    {"eventName": "screen_view"},
    5,
    {"userId": 2},
    {"eventName": "user_login", "userId": 3, "blob": "x" * 33_000},
]


def test_batch_reports_each_item_by_index(client, tracked):
    response = post_batch(client, tracked, MIXED_BATCH)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"accepted", "rejected", "task_id", "message", "results"}
    assert (body["accepted"], body["rejected"]) == (5, 1)
    assert is_uuid(body["task_id"])
    assert body["message"] == QUEUED
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(MIXED_BATCH)))
    assert [r["status"] for r in results] == [
        "valid",
        "invalid",
        "unplanned",
        "invalid",
        "invalid",
        "rejected",
    ]
    assert [r["event_name"] for r in results] == [
        "user_login",
        "user_login",
        "screen_view",
        None,
        None,
        None,
    ]
    paths = [[(e["path"], e["keyword"]) for e in r["errors"]] for r in results]
    assert paths == [
        [],
        [("/userId", "type")],
        [],
        [("", "type")],
        [("/eventName", "required")],
        [("", "too_large")],
    ]
    assert all(is_uuid(r["event_id"]) for r in results[:5])
    assert results[5]["event_id"] is None
    assert len({r["event_id"] for r in results[:5]}) == 5


def test_batch_of_only_rejected_items_queues_nothing(client, tracked):
    response = post_batch(client, tracked, [{"eventName": "x", "blob": "y" * 33_000}])
    assert response.status_code == 202
    body = response.get_json()
    assert (body["accepted"], body["rejected"], body["task_id"]) == (0, 1, None)
    assert body["results"][0]["status"] == "rejected"


def _event_of_depth(depth: int) -> dict:
    event: dict = {"eventName": "screen_view"}
    node = event
    for _ in range(depth - 1):
        node["child"] = {}
        node = node["child"]
    return event


def test_batch_item_at_the_depth_limit_is_accepted(client, tracked):
    response = post_batch(client, tracked, [_event_of_depth(32), {"eventName": "screen_view"}])
    assert response.status_code == 202
    assert [r["status"] for r in response.get_json()["results"]] == ["unplanned", "unplanned"]


def test_batch_item_past_the_depth_limit_is_rejected_alone(client, tracked):
    response = post_batch(client, tracked, [_event_of_depth(33), {"eventName": "screen_view"}])
    assert response.status_code == 202
    body = response.get_json()
    assert [r["status"] for r in body["results"]] == ["rejected", "unplanned"]
    assert body["results"][0]["errors"][0]["keyword"] == "too_deep"
    assert (body["accepted"], body["rejected"]) == (1, 1)


def test_gzip_single_event_is_accepted(client, tracked):
    response = post_gzip(
        client,
        f"/api/logs/{tracked['id']}",
        tracked["key"],
        {"eventName": "user_login", "userId": 9},
    )
    assert response.status_code == 202
    assert response.get_json()["status"] == "valid"


def test_gzip_batch_is_accepted(client, tracked):
    events = [{"eventName": "user_login", "userId": n} for n in range(50)]
    response = post_gzip(
        client, f"/api/logs/{tracked['id']}/batch", tracked["key"], {"events": events}
    )
    assert response.status_code == 202
    body = response.get_json()
    assert (body["accepted"], body["rejected"]) == (50, 0)
    assert {r["status"] for r in body["results"]} == {"valid"}


@pytest.mark.parametrize(
    ("count", "status", "error"),
    [(1, 202, None), (500, 202, None), (501, 413, "too_many_events"), (0, 400, "empty_batch")],
)
def test_batch_size_limits(client, tracked, count, status, error):
    response = post_batch(client, tracked, [{"eventName": "screen_view"}] * count)
    assert response.status_code == status
    if error:
        assert response.get_json()["error"] == error
    else:
        assert response.get_json()["accepted"] == count


@pytest.mark.parametrize(
    "document",
    [{"events": {}}, {"event": []}, [{"eventName": "screen_view"}], {"events": "x"}],
)
def test_body_that_is_not_a_batch_is_refused(client, tracked, document):
    response = client.post(
        f"/api/logs/{tracked['id']}/batch", json=document, headers={"X-API-Key": tracked["key"]}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "not_a_batch"


# --- With a real `default` worker: what is stored ----------------------------------------


def test_accepted_events_are_stored_with_their_verdict(app, client, tracked, default_worker):
    singles = [
        {"eventName": "user_login", "userId": 1},
        {"eventName": "user_login", "userId": "abc"},
        {"eventName": "screen_view"},
        {"userId": 2},
    ]
    answers = [post_event(client, tracked, event).get_json() for event in singles]
    batch = post_batch(client, tracked, MIXED_BATCH).get_json()
    answers += [r for r in batch["results"] if r["status"] != "rejected"]
    ids = [a["event_id"] for a in answers]

    rows = wait_for(
        lambda: (found := stored_rows(app, ids)) and len(found) == len(ids) and found, 20
    )
    for answer in answers:
        row = rows[answer["event_id"]]
        assert row["app_id"] == tracked["id"]
        assert row["status"] == answer["status"]
        assert row["errors"] == answer["errors"]
        assert row["event_name"] == (answer["event_name"] or "")
        expected_version = 1 if answer["event_name"] == "user_login" else None
        assert row["schema_version"] == expected_version
    assert rows[answers[0]["event_id"]]["payload"] == singles[0]
    assert rows[answers[1]["event_id"]]["errors"] == [
        {"path": "/userId", "keyword": "type", "message": '"abc" is not of type "integer"'}
    ]


def test_task_state_reaches_success(client, tracked, default_worker):
    single = post_event(client, tracked, {"eventName": "user_login", "userId": 1}).get_json()
    body = wait_for_success(client, single["task_id"], tracked["key"])
    assert body["task_id"] == single["task_id"]
    assert body["result"] == {"received": 1, "stored": 1, "duplicates": 0}

    events = [{"eventName": "screen_view"}] * 3 + [{"eventName": "x", "blob": "y" * 33_000}]
    batch = post_batch(client, tracked, events).get_json()
    body = wait_for_success(client, batch["task_id"], tracked["key"])
    assert body["result"] == {"received": 3, "stored": 3, "duplicates": 0}


def test_unknown_task_id_is_pending(client, tracked):
    body = task_state(client, str(uuid.uuid4()), tracked["key"])
    assert body["state"] == "PENDING"
    assert body["result"] is None


def test_client_retry_with_the_same_event_id_is_stored_once(
    app, client, make_tracked_app, default_worker
):
    tracked = make_tracked_app()
    event = {"eventName": "purchase", "eventId": "evt-retry-1", "amount": 10}
    answers = [post_event(client, tracked, event).get_json() for _ in range(2)]
    assert answers[0]["event_id"] != answers[1]["event_id"]
    results = [wait_for_success(client, a["task_id"], tracked["key"])["result"] for a in answers]
    assert sorted(r["stored"] for r in results) == [0, 1]
    assert count_client_event(app, tracked["id"], "evt-retry-1") == 1


def test_client_retry_in_a_batch_is_stored_once(app, client, make_tracked_app, default_worker):
    tracked = make_tracked_app()
    event = {"eventName": "purchase", "eventId": 42}
    single = post_event(client, tracked, event).get_json()
    wait_for_success(client, single["task_id"], tracked["key"])
    batch = post_batch(client, tracked, [event, {"eventName": "purchase"}]).get_json()
    assert wait_for_success(client, batch["task_id"], tracked["key"])["result"] == {
        "received": 2,
        "stored": 1,
        "duplicates": 1,
    }
    assert count_client_event(app, tracked["id"], "42") == 1


def test_same_event_id_in_two_apps_is_stored_twice(app, client, make_tracked_app, default_worker):
    first, second = make_tracked_app(), make_tracked_app()
    event = {"eventName": "purchase", "eventId": "shared-id"}
    for tracked in (first, second):
        answer = post_event(client, tracked, event).get_json()
        assert wait_for_success(client, answer["task_id"], tracked["key"])["result"]["stored"] == 1
    assert count_client_event(app, first["id"], "shared-id") == 1
    assert count_client_event(app, second["id"], "shared-id") == 1


def test_api_answers_neither_read_nor_set_a_session_cookie(client, tracked):
    client.set_cookie("session", "not-a-valid-signed-session")
    response = post_event(client, tracked, {"eventName": "user_login", "userId": 1})
    assert response.status_code == 202
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers
    page = client.get("/auth/login")
    assert page.status_code == 200
    assert "Cookie" in page.headers.get("Vary", "")  # pages still use the cookie session
