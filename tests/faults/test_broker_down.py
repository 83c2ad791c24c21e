"""The broker is down at publish time.

(a) Broker down, database up: the API still answers 202 -- with no task id and a message
saying the events were written directly -- and the rows are in the database at once, with
no worker involved; /health says 503 with the broker not ok.
(b) Broker and database both down: the API answers 503 with Retry-After instead of a 202
for an event it could not keep, nothing is written, and /health answers 503 promptly.
"""

from __future__ import annotations

import os
import uuid

import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.extensions import db
from app.ingest.views import QUEUED, STORED_DIRECTLY
from tests.support.factories import USER_LOGIN_SCHEMA, app_with
from tests.support.servers import TcpProxy, free_port


def stored(flask_app, app_id: str) -> dict[str, str]:
    """client eventId -> status of every stored event of the app."""
    with flask_app.app_context():
        rows = db.session.execute(
            text("SELECT client_event_id, status FROM events WHERE app_id = :app"),
            {"app": uuid.UUID(app_id)},
        ).all()
        db.session.rollback()
    return dict(rows)


def test_broker_down_events_are_stored_directly(app, make_tracked_app, private_redis):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    headers = {"X-API-Key": tracked["key"]}
    single_url, batch_url = f"/api/logs/{tracked['id']}", f"/api/logs/{tracked['id']}/batch"
    config = {
        "CELERY": {
            "broker_url": private_redis.url,
            "result_backend": private_redis.url.replace("/0", "/1"),
        }
    }
    with app_with(app, config) as degraded_app:
        client = degraded_app.test_client()

        answer = client.post(
            single_url,
            json={"eventName": "user_login", "userId": 1, "eventId": "q"},
            headers=headers,
        )
        assert answer.status_code == 202
        body = answer.get_json()
        assert body["task_id"] and body["message"] == QUEUED
        assert redis.Redis(port=private_redis.port).llen("default") == 1

        private_redis.stop()

        answer = client.post(
            single_url,
            json={"eventName": "user_login", "userId": 2, "eventId": "s1"},
            headers=headers,
        )
        assert answer.status_code == 202, answer.get_json()
        body = answer.get_json()
        assert body["task_id"] is None
        assert body["message"] == STORED_DIRECTLY
        assert body["status"] == "valid"

        batch = [
            {"eventName": "user_login", "userId": 3, "eventId": "b1"},
            {"eventName": "user_login", "userId": "three", "eventId": "b2"},
            {"eventName": "screen_view", "eventId": "b3"},
        ]
        answer = client.post(batch_url, json={"events": batch}, headers=headers)
        assert answer.status_code == 202, answer.get_json()
        body = answer.get_json()
        assert body["task_id"] is None
        assert body["message"] == STORED_DIRECTLY
        assert body["accepted"] == 3
        assert [r["status"] for r in body["results"]] == ["valid", "invalid", "unplanned"]

        # Stored synchronously: already in PostgreSQL, and no worker ever saw them. The event
        # queued before the outage is not (it sits in the dead broker, no worker consumes it).
        assert stored(app, tracked["id"]) == {
            "s1": "valid",
            "b1": "valid",
            "b2": "invalid",
            "b3": "unplanned",
        }

        health = client.get("/health")
        assert health.status_code == 503
        body = health.get_json()
        assert body["status"] == "unavailable"
        assert body["broker"]["ok"] is False
        assert body["database"]["ok"] is True
        assert body["degraded_writes_this_process"] >= 4


def test_broker_and_database_down_answers_503(app, make_tracked_app):
    tracked = make_tracked_app()
    headers = {"X-API-Key": tracked["key"]}
    url = f"/api/logs/{tracked['id']}"
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
            # Loads the registry once (through the proxy) and takes the degraded path.
            answer = client.post(url, json={"eventName": "first", "eventId": "up"}, headers=headers)
            assert answer.status_code == 202, answer.get_json()
            assert answer.get_json()["task_id"] is None
            assert stored(app, tracked["id"]) == {"up": "unplanned"}

            proxy.cut()

            answer = client.post(
                url, json={"eventName": "second", "eventId": "down"}, headers=headers
            )
            assert answer.status_code == 503, answer.get_json()
            assert int(answer.headers["Retry-After"]) > 0
            assert answer.get_json()["error"] == "unavailable"

            health = client.get("/health")  # must answer, bounded by HEALTH_TIMEOUT_SECONDS
            assert health.status_code == 503
            body = health.get_json()
            assert body["database"]["ok"] is False
            assert body["broker"]["ok"] is False

        assert stored(app, tracked["id"]) == {"up": "unplanned"}
    finally:
        if proxy.open:  # not cut yet: the test stopped early
            proxy.cut()
