"""A storage task that runs out of retries parks its events instead of losing them.

A real `default` pool whose database is unreachable retries each storage task three times
(backoff 0.2 s), then puts its records on the broker's `dead_letter` queue and finishes.
Nothing is stored meanwhile. Once the pool is gone, `flask events replay-failed` stores
every parked event exactly once and empties the queue; a second replay stores nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.extensions import db
from app.worker.dead_letter import parked_count
from tests.support.factories import USER_LOGIN_SCHEMA, app_with
from tests.support.processes import WorkerPool, wait_for
from tests.support.servers import free_port

BATCH_SIZE = 40
SINGLES = 10
TOTAL = BATCH_SIZE + SINGLES


@pytest.fixture
def broker_url(private_redis) -> str:
    """A broker no session worker consumes; results share its db (their keys never clash
    with queues)."""
    return private_redis.url


@pytest.fixture
def dl_app(app, broker_url):
    """An app publishing to that broker."""
    with app_with(
        app, {"CELERY": {"broker_url": broker_url, "result_backend": broker_url}}
    ) as built:
        yield built


def make_event(i: int) -> dict:
    event_id = f"dl-{i}"
    if i % 3 == 0:
        return {"eventName": "user_login", "userId": i, "eventId": event_id}
    if i % 3 == 1:
        return {"eventName": "user_login", "eventId": event_id}  # missing userId: invalid
    return {"eventName": "purchase", "amount": i, "eventId": event_id}


def stored(flask_app, app_id: str) -> dict:
    params = {"app": uuid.UUID(app_id)}
    with flask_app.app_context():
        rows = db.session.execute(
            text("SELECT client_event_id, status FROM events WHERE app_id = :app"), params
        ).all()
        counters = db.session.scalar(
            text("SELECT coalesce(sum(count), 0) FROM event_counts WHERE app_id = :app"), params
        )
        db.session.rollback()
    return {"rows": len(rows), "statuses": dict(rows), "counters": int(counters)}


def replay(flask_app) -> dict:
    outcome = flask_app.test_cli_runner().invoke(args=["events", "replay-failed", "--json"])
    assert outcome.exit_code == 0, outcome.output
    return json.loads(outcome.output)


def test_exhausted_retries_park_events_and_replay_stores_them_once(
    app, dl_app, broker_url, make_tracked_app
):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    headers = {"X-API-Key": tracked["key"]}
    celery_app = dl_app.extensions["celery"]
    broker = redis.Redis.from_url(broker_url)
    dead_database = make_url(os.environ["DATABASE_URL"]).set(port=free_port())
    worker = WorkerPool(
        "default",
        concurrency=2,
        env={
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            "DATABASE_URL": dead_database.render_as_string(hide_password=False),
            "STORAGE_RETRY_BACKOFF": "0.2",
        },
    )

    client = dl_app.test_client()
    events = [make_event(i) for i in range(TOTAL)]
    expected: dict[str, str] = {}
    task_ids = []
    answer = client.post(
        f"/api/logs/{tracked['id']}/batch", json={"events": events[:BATCH_SIZE]}, headers=headers
    )
    assert answer.status_code == 202
    body = answer.get_json()
    task_ids.append(body["task_id"])
    for event, result in zip(events[:BATCH_SIZE], body["results"], strict=True):
        expected[event["eventId"]] = result["status"]
    for event in events[BATCH_SIZE:]:
        answer = client.post(f"/api/logs/{tracked['id']}", json=event, headers=headers)
        assert answer.status_code == 202
        task_ids.append(answer.get_json()["task_id"])
        expected[event["eventId"]] = answer.get_json()["status"]
    assert all(task_ids), "the broker is up: every request must be queued"
    assert set(Counter(expected.values())) == {"valid", "invalid", "unplanned"}

    try:
        worker.start()
        wait_for(lambda: parked_count(celery_app) == 1 + SINGLES, timeout=90, interval=0.5)
        wait_for(lambda: broker.llen("default") == 0 and broker.hlen("unacked") == 0, timeout=30)
        # Each task gave up only after its last retry, and said so in its result.
        for task_id in task_ids:
            result = celery_app.AsyncResult(task_id)
            assert result.successful(), result.result
            assert result.result["stored"] == 0
            assert result.result["dead_lettered"] == result.result["received"]
        assert stored(app, tracked["id"]) == {"rows": 0, "statuses": {}, "counters": 0}
    finally:
        worker.stop()

    assert parked_count(celery_app) == 1 + SINGLES
    outcome = replay(dl_app)
    assert outcome == {"batches": 1 + SINGLES, "events": TOTAL, "stored": TOTAL}
    assert broker.llen("dead_letter") == 0
    after = stored(app, tracked["id"])
    assert after == {"rows": TOTAL, "statuses": expected, "counters": TOTAL}

    assert replay(dl_app) == {"batches": 0, "events": 0, "stored": 0}
    assert stored(app, tracked["id"]) == after
    assert parked_count(celery_app) == 0
