"""Exactly-once storage through the real `default` pool.

Proves that 2,000 events posted as singles and batches become exactly 2,000 rows, that the
per-minute counters equal the rows per status, and that the two ways an event can arrive
twice -- a client retry (same `eventId`, new server id) and a broker redelivery (the same
record again) -- store and count nothing more.
"""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import text

from app.extensions import db
from app.store.events import store_events
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.processes import wait_for

SINGLES = 500
BATCHES = 15
BATCH_SIZE = 100
TOTAL = SINGLES + BATCHES * BATCH_SIZE
RETRIED = 100


def make_event(i: int) -> dict:
    """A third valid, a third invalid (userId not an integer), a third unplanned."""
    event_id = f"eo-{i}"
    if i % 3 == 0:
        return {"eventName": "user_login", "userId": i, "method": "password", "eventId": event_id}
    if i % 3 == 1:
        return {"eventName": "user_login", "userId": str(i), "eventId": event_id}
    return {"eventName": "screen_view", "screen": f"s{i % 7}", "eventId": event_id}


def db_state(flask_app, app_id: str) -> dict:
    """Rows and counters of one app, straight from PostgreSQL."""
    params = {"app": uuid.UUID(app_id)}
    with flask_app.app_context():
        rows = dict(
            db.session.execute(
                text("SELECT status, count(*) FROM events WHERE app_id = :app GROUP BY status"),
                params,
            ).all()
        )
        counters = dict(
            db.session.execute(
                text(
                    "SELECT status, sum(count) FROM event_counts WHERE app_id = :app "
                    "GROUP BY status"
                ),
                params,
            ).all()
        )
        distinct_ids = db.session.scalar(
            text("SELECT count(DISTINCT client_event_id) FROM events WHERE app_id = :app"),
            params,
        )
        db.session.rollback()
    return {
        "rows": sum(rows.values()),
        "counters": int(sum(counters.values())),
        "rows_by_status": rows,
        "counters_by_status": {status: int(n) for status, n in counters.items()},
        "distinct_client_ids": distinct_ids,
    }


def wait_for_results(celery_app, task_ids: list[str], timeout: float) -> list[dict]:
    """Wait until every task has finished and return the results the workers recorded."""
    results = [celery_app.AsyncResult(task_id) for task_id in task_ids]
    wait_for(lambda: all(result.ready() for result in results), timeout=timeout, interval=0.5)
    assert all(result.successful() for result in results), [r.result for r in results]
    return [result.result for result in results]


def stored_records(flask_app, app_id: str, limit: int) -> list[dict]:
    """Rebuild, from stored rows, the exact records a redelivered message would carry."""
    with flask_app.app_context():
        rows = db.session.execute(
            text(
                "SELECT id, app_id, client_event_id, event_name, payload, payload_hash, status, "
                "errors, schema_version, client_ts, received_at FROM events "
                "WHERE app_id = :app ORDER BY client_event_id LIMIT :limit"
            ),
            {"app": uuid.UUID(app_id), "limit": limit},
        ).mappings()
        records = [
            {
                **row,
                "id": str(row["id"]),
                "app_id": str(row["app_id"]),
                "client_ts": row["client_ts"].isoformat() if row["client_ts"] else None,
                "received_at": row["received_at"].isoformat(),
            }
            for row in rows
        ]
        db.session.rollback()
    return records


def test_2000_events_stored_exactly_once_and_duplicates_add_nothing(
    app, client, make_tracked_app, default_worker
):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    headers = {"X-API-Key": tracked["key"]}
    single_url = f"/api/logs/{tracked['id']}"
    batch_url = f"/api/logs/{tracked['id']}/batch"
    celery_app = app.extensions["celery"]

    expected = Counter()
    task_ids = []
    events = [make_event(i) for i in range(TOTAL)]
    batched, singles = events[: BATCHES * BATCH_SIZE], events[BATCHES * BATCH_SIZE :]
    per_round = SINGLES // BATCHES + 1
    for round_ in range(BATCHES):
        chunk = batched[round_ * BATCH_SIZE : (round_ + 1) * BATCH_SIZE]
        answer = client.post(batch_url, json={"events": chunk}, headers=headers)
        assert answer.status_code == 202, answer.get_json()
        body = answer.get_json()
        assert body["accepted"] == BATCH_SIZE and body["rejected"] == 0
        assert body["task_id"], "the broker is up: the batch must be queued, not stored inline"
        task_ids.append(body["task_id"])
        expected.update(result["status"] for result in body["results"])
        for event in singles[round_ * per_round : (round_ + 1) * per_round]:
            answer = client.post(single_url, json=event, headers=headers)
            assert answer.status_code == 202, answer.get_json()
            body = answer.get_json()
            assert body["task_id"]
            task_ids.append(body["task_id"])
            expected[body["status"]] += 1
    assert sum(expected.values()) == TOTAL
    assert set(expected) == {"valid", "invalid", "unplanned"}

    results = wait_for_results(celery_app, task_ids, timeout=180)
    assert sum(result["stored"] for result in results) == TOTAL
    assert sum(result["duplicates"] for result in results) == 0

    state = db_state(app, tracked["id"])
    assert state["rows"] == TOTAL
    assert state["distinct_client_ids"] == TOTAL
    assert state["counters"] == TOTAL
    assert state["rows_by_status"] == dict(expected)
    assert state["counters_by_status"] == state["rows_by_status"]

    # A client retry: the same eventIds again, as one batch and as singles.
    retried = events[:RETRIED]
    half = RETRIED // 2
    retry_ids = []
    answer = client.post(batch_url, json={"events": retried[:half]}, headers=headers)
    assert answer.status_code == 202
    retry_ids.append(answer.get_json()["task_id"])
    for event in retried[half:]:
        answer = client.post(single_url, json=event, headers=headers)
        assert answer.status_code == 202
        retry_ids.append(answer.get_json()["task_id"])
    results = wait_for_results(celery_app, retry_ids, timeout=60)
    assert sum(result["stored"] for result in results) == 0
    assert sum(result["duplicates"] for result in results) == RETRIED

    # A redelivered message: the very same records (same server ids), twice; and once more
    # without the client eventId, so only the server id can recognise them.
    records = stored_records(app, tracked["id"], RETRIED)
    assert len(records) == RETRIED
    with app.app_context():
        assert store_events(records) == 0
        assert store_events(records) == 0
        assert store_events([{**r, "client_event_id": None} for r in records]) == 0

    after = db_state(app, tracked["id"])
    assert after == state
