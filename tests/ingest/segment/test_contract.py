"""The Segment-compatible routes: auth, limits, answers, and what each message becomes."""

from __future__ import annotations

import gzip
import json
import os
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import make_url

from app.ingest.segment.mapping import MAX_BATCH_MESSAGES
from tests.ingest.segment.conftest import basic_auth, stored_messages
from tests.support.factories import app_with
from tests.support.servers import TcpProxy, free_port

ROUTES = ["batch", "b", "track", "identify", "page", "screen", "group", "alias"]


def message(kind: str = "track", **fields) -> dict:
    base = {"type": kind, "userId": "u-1", "messageId": str(uuid.uuid4())}
    if kind == "track":
        base.update(event="Signed Up", properties={"plan": "pro"})
    if kind == "alias":
        base["previousId"] = "anon-1"
    return {**base, **fields}


def post(client, route: str, body, headers: dict | None = None, **options):
    return client.post(f"/v1/{route}", json=body, headers=headers or {}, **options)


@pytest.mark.parametrize(
    "way",
    ["writeKey in the body", "Basic auth user name", "X-API-Key"],
)
@pytest.mark.parametrize("right", [True, False], ids=["right key", "wrong key"])
def test_the_key_is_accepted_three_ways_and_a_wrong_one_is_401(
    inline_app, make_tracked_app, way, right
):
    tracked = make_tracked_app()
    key = tracked["key"] if right else tracked["key"] + "x"
    body: dict = {"batch": [message()]}
    headers = {}
    if way == "writeKey in the body":
        body["writeKey"] = key
    elif way == "Basic auth user name":
        headers = basic_auth(key)
    else:
        headers = {"X-API-Key": key}
    answer = post(inline_app.test_client(), "batch", body, headers)
    if right:
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json() == {"success": True}
        assert len(stored_messages(inline_app, tracked["id"])) == 1
    else:
        assert answer.status_code == 401
        assert answer.get_json()["code"] == "invalid_key"
        assert answer.get_json()["success"] is False
        assert stored_messages(inline_app, tracked["id"]) == []


def test_no_key_at_all_is_401(client):
    answer = post(client, "batch", {"batch": [message()]})
    assert answer.status_code == 401
    assert answer.get_json()["code"] == "missing_key"


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_answers_200_never_202(inline_app, planned, route):
    kind = "track" if route in ("batch", "b") else route
    body = {"batch": [message(kind)]} if route in ("batch", "b") else message(kind)
    answer = post(inline_app.test_client(), route, body, {"X-API-Key": planned["key"]})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"success": True}
    [stored] = stored_messages(inline_app, planned["id"])
    assert stored["event_name"] == ("Signed Up" if kind == "track" else kind)
    assert stored["payload"]["type"] == kind


def _big(size: int) -> str:
    return "x" * size


@pytest.mark.parametrize(
    ("case", "body", "code"),
    [
        ("an event over 32 KB", {"batch": [message(blob=_big(33 * 1024))]}, "event_too_large"),
        (
            "a batch over 500 KB",
            {"batch": [message(blob=_big(20 * 1024)) for _ in range(26)]},
            "too_large",
        ),
        (
            f"more than {MAX_BATCH_MESSAGES} events",
            {"batch": [{"type": "page"}] * (MAX_BATCH_MESSAGES + 1)},
            "too_many_events",
        ),
        ("not a batch", {"events": [message()]}, "invalid_batch"),
        ("an event that is no object", {"batch": [message(), 5]}, "invalid_event"),
        (
            "nesting too deep",
            {"batch": [message(deep=json.loads("[" * 40 + "]" * 40))]},
            "too_deep",
        ),
    ],
)
def test_over_a_limit_is_400_with_a_reason_and_nothing_is_stored(
    inline_app, make_tracked_app, case, body, code
):
    tracked = make_tracked_app()
    answer = post(inline_app.test_client(), "batch", body, {"X-API-Key": tracked["key"]})
    assert answer.status_code == 400, case
    assert answer.get_json()["code"] == code
    assert stored_messages(inline_app, tracked["id"]) == []


def test_a_gzip_body_over_500_kb_once_inflated_is_400(client, make_tracked_app):
    tracked = make_tracked_app()
    document = {"batch": [message(blob=_big(20 * 1024)) for _ in range(26)]}
    answer = client.post(
        "/v1/batch",
        data=gzip.compress(json.dumps(document).encode()),
        content_type="application/json",
        headers={"X-API-Key": tracked["key"], "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "too_large"


@pytest.mark.parametrize(
    ("data", "code"), [(b"{not json", "invalid_json"), (b'{"batch": [}', "invalid_json")]
)
def test_invalid_json_is_400(client, make_tracked_app, data, code):
    tracked = make_tracked_app()
    answer = client.post(
        "/v1/batch", data=data, content_type="text/plain", headers={"X-API-Key": tracked["key"]}
    )
    assert answer.status_code == 400
    assert answer.get_json()["code"] == code


@pytest.mark.parametrize(
    ("sent", "status", "errors"),
    [
        (message(), "valid", []),
        (message(properties={"plan": "gold"}), "invalid", ["/properties/plan"]),
        (message(event="Clicked"), "unplanned", []),
        (message("identify", traits={"email": "a@b.c"}), "valid", []),
        (message("identify", traits={}), "invalid", ["/traits/email"]),
        (message("page", name="Home"), "unplanned", []),
        (message(event=None), "invalid", ["/event"]),
        (message("screen", userId=None), "invalid", [""]),
        (message("alias", previousId=None), "invalid", ["/previousId"]),
        ({**message(), "type": "shout"}, "invalid", ["/type"]),
    ],
)
def test_track_checks_its_event_schema_and_other_types_the_type_schema(
    inline_app, planned, sent, status, errors
):
    answer = post(
        inline_app.test_client(), "batch", {"batch": [sent]}, {"X-API-Key": planned["key"]}
    )
    assert answer.status_code == 200
    [stored] = stored_messages(inline_app, planned["id"])
    assert stored["status"] == status
    assert [error["path"] for error in stored["errors"]] == errors


def test_a_redelivered_batch_is_stored_once(inline_app, planned):
    client = inline_app.test_client()
    batch = {"batch": [message(), message("identify", traits={"email": "a@b.c"})]}
    for _ in range(3):
        assert post(client, "b", batch, {"X-API-Key": planned["key"]}).status_code == 200
    stored = stored_messages(inline_app, planned["id"])
    assert sorted(row["client_event_id"] for row in stored) == sorted(
        item["messageId"] for item in batch["batch"]
    )


def test_the_batch_lends_context_integrations_and_sent_at_and_the_key_is_not_stored(
    inline_app, planned
):
    received_before = datetime.now().astimezone()
    # The device's clock runs one hour behind: it says it sent the batch 10 s after the event.
    happened = datetime(2024, 3, 1, 12, 0, 0).astimezone()
    sent = happened + timedelta(seconds=10)
    item = message(
        timestamp=happened.isoformat(),
        context={"testRun": "run-42", "locale": "fr-FR"},
        integrations={"Mixpanel": False},
        writeKey=planned["key"],
    )
    body = {
        "batch": [item],
        "sentAt": sent.isoformat(),
        "context": {"library": {"name": "analytics-test"}, "locale": "en-US"},
        "integrations": {"All": True},
        "writeKey": planned["key"],
    }
    assert post(inline_app.test_client(), "batch", body).status_code == 200
    [stored] = stored_messages(inline_app, planned["id"])
    payload = stored["payload"]
    assert payload["context"] == {
        "library": {"name": "analytics-test"},
        "locale": "fr-FR",  # the message's own context wins
        "testRun": "run-42",
    }
    assert payload["integrations"] == {"All": True, "Mixpanel": False}
    assert payload["sentAt"] == sent.isoformat()
    assert payload["timestamp"] == happened.isoformat()  # the original, as sent
    assert "writeKey" not in payload and planned["key"] not in json.dumps(payload)
    # Corrected: received_at - (sentAt - timestamp), i.e. 10 s before it arrived.
    assert stored["client_ts"] == stored["received_at"] - timedelta(seconds=10)
    assert stored["received_at"] >= received_before


def test_without_sent_at_the_client_time_is_the_timestamp(inline_app, planned):
    item = message(timestamp="2024-03-01T12:00:00.000Z")
    assert (
        post(inline_app.test_client(), "track", item, {"X-API-Key": planned["key"]}).status_code
        == 200
    )
    [stored] = stored_messages(inline_app, planned["id"])
    assert stored["client_ts"].isoformat() == "2024-03-01T12:00:00+00:00"


def test_settings_name_our_host_for_a_valid_key_and_401_otherwise(client, make_tracked_app):
    tracked = make_tracked_app()
    answer = client.get(f"/v1/projects/{tracked['key']}/settings", headers={"Host": "lvd.test"})
    assert answer.status_code == 200
    settings = answer.get_json()
    assert settings["integrations"]["Segment.io"] == {
        "apiKey": tracked["key"],
        "apiHost": "lvd.test/v1",
    }
    assert settings["plan"] == {"track": {}, "identify": {}}
    answer = client.get("/v1/projects/lvd_not-a-key/settings")
    assert answer.status_code == 401
    assert answer.get_json()["success"] is False


def test_no_session_cookie_is_read_or_written(client, make_tracked_app):
    tracked = make_tracked_app()
    answer = post(client, "batch", {"batch": [message()]}, {"X-API-Key": tracked["key"]})
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert "Cookie" not in answer.headers.get("Vary", "")


def test_over_the_rate_limit_is_429_with_retry_after(client, make_tracked_app):
    tracked = make_tracked_app(rate_limit="2/minute")
    headers = basic_auth(tracked["key"])
    answers = [post(client, "batch", {"batch": [message()]}, headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert answers[-1].get_json()["code"] == "rate_limited"


def test_nothing_able_to_keep_the_events_is_503_with_retry_after(app, make_tracked_app):
    tracked = make_tracked_app()
    database_url = make_url(os.environ["DATABASE_URL"])
    proxy = TcpProxy(database_url.port or 5432, database_url.host or "127.0.0.1")
    database_url = database_url.set(
        drivername="postgresql+psycopg2", host="127.0.0.1", port=proxy.port
    )
    dead_broker = f"redis://127.0.0.1:{free_port()}"
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url.render_as_string(hide_password=False),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            "connect_args": {"connect_timeout": 3},
        },
        "REGISTRY_REFRESH_SECONDS": 3600,
        "CELERY": {"broker_url": f"{dead_broker}/0", "result_backend": f"{dead_broker}/1"},
    }
    try:
        with app_with(app, config) as cut_off_app:
            client = cut_off_app.test_client()
            headers = {"X-API-Key": tracked["key"]}
            first = post(client, "batch", {"batch": [message()]}, headers)  # degraded: stored
            assert first.status_code == 200, first.get_json()
            proxy.cut()
            answer = post(client, "batch", {"batch": [message()]}, headers)
            assert answer.status_code == 503, answer.get_json()
            assert int(answer.headers["Retry-After"]) > 0
            assert answer.get_json()["code"] == "unavailable"
        assert len(stored_messages(app, tracked["id"])) == 1
    finally:
        if proxy.open:
            proxy.cut()
