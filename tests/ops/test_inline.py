"""Inline mode (CELERY_ENABLED=false): with no worker at all, an accepted event is stored,
and its task already succeeded, when the 202 arrives; a login code reaches the SMTP sink
before the login answer does; nothing waits in the broker."""

from __future__ import annotations

import uuid

import redis
from sqlalchemy import func, select

from app.extensions import db
from app.models import Event
from celery_config import EMAIL_PRIORITY_QUEUE, STORAGE_QUEUE
from tests.accounts import PASSWORD, Web, landed
from tests.support.factories import app_with


def stored_count(flask_app, app_id: str) -> int:
    with flask_app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(Event).where(Event.app_id == uuid.UUID(app_id))
        )
        db.session.rollback()
    return count


def inline_config(private_redis, smtp_sink) -> dict:
    return {
        "TESTING": True,
        "CELERY_ENABLED": False,
        "CELERY": {
            "broker_url": private_redis.url,
            "result_backend": private_redis.url.replace("/0", "/1"),
        },
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_sink.port,
    }


def test_events_are_stored_in_the_request(app, make_tracked_app, private_redis, smtp_sink):
    tracked = make_tracked_app()
    headers = {"X-API-Key": tracked["key"]}
    broker = redis.Redis.from_url(private_redis.url)
    with app_with(app, inline_config(private_redis, smtp_sink)) as inline_app:
        client = inline_app.test_client()
        single = client.post(
            f"/api/logs/{tracked['id']}", json={"eventName": "a"}, headers=headers
        ).get_json()
        assert stored_count(app, tracked["id"]) == 1  # no wait: stored before the answer
        batch = client.post(
            f"/api/logs/{tracked['id']}/batch",
            json={"events": [{"eventName": "b"}, {"eventName": "c"}]},
            headers=headers,
        ).get_json()
        assert stored_count(app, tracked["id"]) == 3
        states = [
            client.get(f"/api/tasks/{t}", headers=headers).get_json()
            for t in (single["task_id"], batch["task_id"])
        ]
    assert [s["state"] for s in states] == ["SUCCESS", "SUCCESS"]
    assert states[1]["result"] == {"received": 2, "stored": 2, "duplicates": 0}
    assert broker.llen(STORAGE_QUEUE) == 0


def test_login_code_is_mailed_in_the_request(app, make_user, private_redis, smtp_sink):
    address = make_user()
    broker = redis.Redis.from_url(private_redis.url)
    with app_with(app, inline_config(private_redis, smtp_sink)) as inline_app:
        web = Web(inline_app.test_client())
        answer = web.submit("/auth/login", {"email": address, "password": PASSWORD})
        assert landed(answer) == "/auth/otp"
        assert len(smtp_sink.received(address, "login code")) == 1  # before the answer
    assert broker.llen(EMAIL_PRIORITY_QUEUE) == 0
