"""A storage pool SIGKILLed in the middle of a backlog loses nothing and stores nothing twice.

20,000 events are queued (300 batches of 60 + 2,000 singles) on a private Redis of their own
while no worker runs. A real `default` pool starts draining them and is killed -- main
process and pool children at once -- while it holds unacknowledged messages. A new pool
then finishes the work: the killed pool's in-flight messages come back once its consumer's
keep-alive key has expired (TTL 30 s), at the next restore sweep (every 10 s; both in
celery_config.py), so they are handed to the new pool within about 40 s of the kill (the
time is printed), every accepted event is stored exactly once and the counters equal the
rows.

(tests/faults/test_worker_killed_repeatedly.py kills a pool five times in one drain.)
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter

import redis
from sqlalchemy import text

from app.extensions import db
from tests.faults.scenario import row_count
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.processes import WorkerPool, wait_for

BATCHES = 300
BATCH_SIZE = 60
SINGLES = 2_000
TOTAL = BATCHES * BATCH_SIZE + SINGLES
KILL_AFTER_ROWS = 3_000
RECOVERY_SECONDS = 150  # consumer TTL 30 s + restore sweep 10 s + the remaining work
HANDED_OVER_SECONDS = 90  # TTL 30 s + sweep 10 s, with room for a busy machine


def make_event(i: int) -> dict:
    event_id = f"crash-{i}"
    if i % 3 == 0:
        return {"eventName": "user_login", "userId": i, "eventId": event_id}
    if i % 3 == 1:
        return {"eventName": "user_login", "userId": "nope", "eventId": event_id}
    return {"eventName": "app_open", "eventId": event_id}


def post_backlog(client, tracked: dict) -> tuple[set[str], Counter]:
    """Post every event, batches interleaved with singles; return accepted ids and statuses."""
    headers = {"X-API-Key": tracked["key"]}
    single_url, batch_url = f"/api/logs/{tracked['id']}", f"/api/logs/{tracked['id']}/batch"
    events = [make_event(i) for i in range(TOTAL)]
    batched, singles = events[: BATCHES * BATCH_SIZE], events[BATCHES * BATCH_SIZE :]
    per_round = -(-SINGLES // BATCHES)
    accepted: set[str] = set()
    statuses: Counter = Counter()
    for round_ in range(BATCHES):
        chunk = batched[round_ * BATCH_SIZE : (round_ + 1) * BATCH_SIZE]
        body = client.post(batch_url, json={"events": chunk}, headers=headers).get_json()
        assert body["accepted"] == BATCH_SIZE and body["task_id"], body
        accepted.update(event["eventId"] for event in chunk)
        statuses.update(result["status"] for result in body["results"])
        for event in singles[round_ * per_round : (round_ + 1) * per_round]:
            answer = client.post(single_url, json=event, headers=headers)
            assert answer.status_code == 202 and answer.get_json()["task_id"], answer.get_json()
            accepted.add(event["eventId"])
            statuses[answer.get_json()["status"]] += 1
    return accepted, statuses


def final_state(flask_app, app_id: str) -> dict:
    params = {"app": uuid.UUID(app_id)}
    with flask_app.app_context():
        session = db.session
        state = {
            "client_ids": set(
                session.scalars(
                    text("SELECT client_event_id FROM events WHERE app_id = :app"), params
                )
            ),
            "duplicates": session.execute(
                text(
                    "SELECT client_event_id, count(*) FROM events WHERE app_id = :app "
                    "GROUP BY client_event_id HAVING count(*) > 1"
                ),
                params,
            ).all(),
            "rows_by_status": dict(
                session.execute(
                    text("SELECT status, count(*) FROM events WHERE app_id = :app GROUP BY status"),
                    params,
                ).all()
            ),
            "counters_by_status": {
                status: int(n)
                for status, n in session.execute(
                    text(
                        "SELECT status, sum(count) FROM event_counts WHERE app_id = :app "
                        "GROUP BY status"
                    ),
                    params,
                ).all()
            },
        }
        session.rollback()
    return state


def unacked_task_ids(broker: redis.Redis) -> set[str]:
    """Task ids of the messages delivered to a consumer but never acknowledged."""
    return {json.loads(raw)[0]["headers"]["id"] for raw in broker.hvals("unacked")}


def received_task_ids(pool: WorkerPool) -> set[str]:
    return set(re.findall(r"Task process_event_\w+\[([0-9a-f-]+)\] received", pool.output()))


def test_killed_worker_loses_nothing_and_duplicates_nothing(
    app, fault_app, fault_broker, make_tracked_app
):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    broker = fault_broker.client

    accepted, statuses = post_backlog(fault_app.test_client(), tracked)
    assert len(accepted) == TOTAL
    assert broker.llen("default") == BATCHES + SINGLES  # all queued, nobody consuming
    assert row_count(app, tracked["id"]) == 0

    first = WorkerPool("default", concurrency=2, env=fault_broker.worker_env)
    second = WorkerPool("default", concurrency=2, env=fault_broker.worker_env)
    try:
        first.start()
        wait_for(
            lambda: row_count(app, tracked["id"]) >= KILL_AFTER_ROWS and broker.hlen("unacked"),
            timeout=120,
            interval=0.1,
        )
        first.kill_hard()
        killed_at = time.monotonic()

        stored_at_kill = row_count(app, tracked["id"])
        in_flight = unacked_task_ids(broker)
        assert 0 < stored_at_kill < TOTAL
        assert in_flight, "the killed pool held no unacknowledged message"
        assert broker.llen("default") > 0

        second.start()
        wait_for(lambda: in_flight <= received_task_ids(second), HANDED_OVER_SECONDS)
        print(f"in-flight messages handed over {time.monotonic() - killed_at:.1f} s after the kill")
        wait_for(
            lambda: (
                row_count(app, tracked["id"]) == TOTAL
                and broker.llen("default") == 0
                and broker.hlen("unacked") == 0
            ),
            timeout=RECOVERY_SECONDS,
            interval=1,
        )
        # The killed pool's in-flight messages were handed to the new pool.
        assert in_flight <= received_task_ids(second)
    finally:
        first.stop()
        second.stop()

    state = final_state(app, tracked["id"])
    assert state["duplicates"] == []
    assert state["client_ids"] == accepted
    assert state["rows_by_status"] == dict(statuses)
    assert state["counters_by_status"] == state["rows_by_status"]
    assert sum(state["counters_by_status"].values()) == TOTAL
