"""Bad input gets a clear JSON error and harms nothing; rate limits; live schema changes."""

from __future__ import annotations

import gzip
import time
import uuid

import pytest

from app import create_app as create_flask_app
from app.extensions import db
from app.models import App
from app.store import catalog
from tests.support.factories import USER_LOGIN_SCHEMA

VALID = {"eventName": "user_login", "userId": 123}


def _depth(levels: int) -> bytes:
    return b'{"eventName": "user_login", "d": ' + b"[" * levels + b"]" * levels + b"}"


def _gzip_bomb() -> bytes:
    return gzip.compress(b"0" * 50_000_000, compresslevel=9)


def _request(body: bytes, **overrides) -> dict:
    """A POST to the single endpoint; `overrides` replace the URL suffix, headers or type."""
    return {"body": body, "suffix": "", "content_type": "application/json", **overrides}


BAD_REQUESTS = {
    "malformed-json": (_request(b'{"eventName": "user_login",'), 400, "invalid_json"),
    "not-json-at-all": (_request(b"eventName=user_login"), 400, "invalid_json"),
    "array-to-single": (_request(b'[{"eventName": "user_login"}]'), 400, "not_an_object"),
    "string-to-single": (_request(b'"user_login"'), 400, "not_an_object"),
    "2mb-body": (
        _request(b'{"eventName": "x", "pad": "' + b"a" * 2_000_000 + b'"}'),
        413,
        "too_large",
    ),
    "event-over-32kb": (
        _request(b'{"eventName": "x", "pad": "' + b"a" * 40_000 + b'"}'),
        413,
        "too_large",
    ),
    "gzip-bomb": (_request(_gzip_bomb(), encoding="gzip"), 413, "too_large"),
    "invalid-gzip": (_request(b'{"eventName": "x"}', encoding="gzip"), 400, "invalid_gzip"),
    "unsupported-encoding": (_request(b"{}", encoding="br"), 415, "unsupported_encoding"),
    "depth-10000": (_request(_depth(10_000)), 400, "too_deep"),
    "depth-33": (_request(_depth(32)), 400, "too_deep"),
    "nul-character": (_request(b'{"eventName": "a\\u0000"}'), 400, "unsupported_character"),
    "text-plain": (
        _request(b'{"eventName": "user_login"}', content_type="text/plain"),
        415,
        "unsupported_media_type",
    ),
    "form-encoded": (
        _request(b"eventName=x", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    ),
    "no-content-type": (
        _request(b'{"eventName": "x"}', content_type=None),
        415,
        "unsupported_media_type",
    ),
    "batch-not-a-batch": (_request(b'[{"eventName": "x"}]', suffix="/batch"), 400, "not_a_batch"),
    "batch-malformed": (_request(b'{"events": [', suffix="/batch"), 400, "invalid_json"),
    "batch-depth-10000": (_request(_depth(10_000), suffix="/batch"), 400, "too_deep"),
    "batch-2mb": (
        _request(b'{"events": [{"pad": "' + b"a" * 2_000_000 + b'"}]}', suffix="/batch"),
        413,
        "too_large",
    ),
    "unknown-app": (_request(b"{}", app="unknown"), 404, "unknown_app"),
    "unknown-app-batch": (_request(b"{}", app="unknown", suffix="/batch"), 404, "unknown_app"),
    "missing-key": (_request(b"{}", key=None), 401, "missing_key"),
    "empty-bearer": (_request(b"{}", key=None, authorization="Bearer "), 401, "missing_key"),
    "basic-auth-not-a-key": (
        _request(b"{}", key=None, authorization="Basic dXNlcjpwYXNz"),
        401,
        "missing_key",
    ),
    "another-apps-key": (_request(b"{}", key="other"), 401, "invalid_key"),
    "another-apps-key-bearer": (
        _request(b"{}", key=None, authorization="other"),
        401,
        "invalid_key",
    ),
    "made-up-key": (_request(b"{}", key="lvd_made-up"), 401, "invalid_key"),
}


@pytest.fixture
def tracked(make_tracked_app):
    return make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})


def send(client, tracked: dict, other: dict, spec: dict):
    app_id = str(uuid.uuid4()) if spec.get("app") == "unknown" else tracked["id"]
    headers = {}
    key = spec.get("key", "own")
    if key is not None:
        headers["X-API-Key"] = {"own": tracked["key"], "other": other["key"]}.get(key, key)
    authorization = spec.get("authorization")
    if authorization == "other":
        authorization = f"Bearer {other['key']}"
    if authorization:
        headers["Authorization"] = authorization
    if spec.get("encoding"):
        headers["Content-Encoding"] = spec["encoding"]
    return client.post(
        f"/api/logs/{app_id}{spec['suffix']}",
        data=spec["body"],
        content_type=spec["content_type"],
        headers=headers,
    )


def post_valid(client, tracked: dict, key: str | None = None):
    return client.post(
        f"/api/logs/{tracked['id']}", json=VALID, headers={"X-API-Key": key or tracked["key"]}
    )


def post_json(client, tracked: dict, event: dict) -> dict:
    response = client.post(
        f"/api/logs/{tracked['id']}", json=event, headers={"X-API-Key": tracked["key"]}
    )
    assert response.status_code == 202
    return response.get_json()


@pytest.mark.parametrize(("spec", "status", "error"), BAD_REQUESTS.values(), ids=BAD_REQUESTS)
def test_bad_input_gets_a_clear_error_and_harms_nothing(
    client, tracked, make_tracked_app, spec, status, error
):
    other = make_tracked_app()
    response = send(client, tracked, other, spec)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "message"}
    assert body["error"] == error
    assert body["message"]

    after = post_valid(client, tracked)
    assert after.status_code == 202
    assert after.get_json()["status"] == "valid"


def test_rotated_key_is_revoked_and_the_new_key_works(app, client, tracked):
    assert post_valid(client, tracked).status_code == 202
    with app.app_context():
        new_key = catalog.rotate_key(App.lookup(tracked["id"]))
    assert new_key != tracked["key"]

    old = post_valid(client, tracked)
    assert old.status_code == 401
    assert old.get_json()["error"] == "invalid_key"
    new = post_valid(client, tracked, key=new_key)
    assert new.status_code == 202
    assert new.get_json()["status"] == "valid"


def test_rate_limit_answers_429_with_retry_after(client, make_tracked_app):
    limited = make_tracked_app(rate_limit="3/minute")
    neighbour = make_tracked_app()
    for _ in range(3):
        assert post_valid(client, limited).status_code == 202

    refused = post_valid(client, limited)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    retry_after = refused.headers["Retry-After"]
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= 60

    batch = client.post(
        f"/api/logs/{limited['id']}/batch",
        json={"events": [VALID]},
        headers={"X-API-Key": limited["key"]},
    )
    assert batch.status_code == 429
    for _ in range(5):
        assert post_valid(client, neighbour).status_code == 202


def test_refused_keys_do_not_use_up_the_rate_limit(client, make_tracked_app):
    limited = make_tracked_app(rate_limit="2/minute")
    for _ in range(5):
        assert post_valid(client, limited, key="lvd_wrong").status_code == 401
    assert post_valid(client, limited).status_code == 202
    assert post_valid(client, limited).status_code == 202
    assert post_valid(client, limited).status_code == 429


@pytest.fixture
def slow_refresh_app(app):
    """A second web app whose registry refreshes at most once a second, as in production."""
    second = create_flask_app({"TESTING": True, "REGISTRY_REFRESH_SECONDS": 1})
    yield second
    with second.app_context():
        db.engine.dispose()
    app.extensions["celery"].set_default()


def test_schema_change_reaches_a_running_app_without_restart(
    app, slow_refresh_app, make_tracked_app
):
    tracked = make_tracked_app()
    client = slow_refresh_app.test_client()
    event = {"eventName": "checkout", "amount": 10}
    before = post_json(client, tracked, event)
    assert before["status"] == "unplanned"

    schema = {
        "type": "object",
        "properties": {"amount": {"type": "integer", "minimum": 1}},
        "required": ["amount"],
    }
    with app.app_context():
        saved, created = catalog.set_schema(App.lookup(tracked["id"]), "checkout", schema)
        assert (saved.version, created) == (1, True)
    time.sleep(1.2)

    assert post_json(client, tracked, event)["status"] == "valid"
    invalid = post_json(client, tracked, {"eventName": "checkout", "amount": 0})
    assert invalid["status"] == "invalid"
    assert [(e["path"], e["keyword"]) for e in invalid["errors"]] == [("/amount", "minimum")]


def test_a_new_app_and_a_rotated_key_work_at_once_without_waiting_for_the_refresh(
    app, make_tracked_app
):
    """An SDK may send its first event the moment the app is created or its key rotated."""
    slow = create_flask_app({"TESTING": True, "REGISTRY_REFRESH_SECONDS": 3600})
    try:
        client = slow.test_client()
        first = make_tracked_app()
        assert post_valid(client, first).status_code == 202  # loads the registry
        created = make_tracked_app()
        assert post_valid(client, created).status_code == 202
        time.sleep(0.15)  # rechecks are rate limited to ten a second
        with app.app_context():
            new_key = catalog.rotate_key(App.lookup(created["id"]))
        assert post_valid(client, created, key=new_key).status_code == 202
        time.sleep(0.15)
        assert post_valid(client, created).status_code == 401  # the old key is revoked
    finally:
        with slow.app_context():
            db.engine.dispose()
        app.extensions["celery"].set_default()


def test_unknown_app_ids_cannot_force_a_query_each(app, make_tracked_app, monkeypatch):
    from app.models import RegistryState

    slow = create_flask_app({"TESTING": True, "REGISTRY_REFRESH_SECONDS": 3600})
    try:
        client = slow.test_client()
        assert post_valid(client, make_tracked_app()).status_code == 202
        reads = []
        original = RegistryState.current
        monkeypatch.setattr(RegistryState, "current", lambda: reads.append(1) or original())
        started = time.monotonic()
        for _ in range(50):
            missing = {"id": str(uuid.uuid4()), "key": "lvd_x"}
            assert post_valid(client, missing).status_code == 404
        elapsed = time.monotonic() - started
        assert len(reads) <= 2 + int(elapsed * 10)  # ten rechecks a second at most
        assert len(reads) < 50
    finally:
        with slow.app_context():
            db.engine.dispose()
        app.extensions["celery"].set_default()
