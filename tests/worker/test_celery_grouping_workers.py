"""Small storage messages are stored several per transaction by a real `default` pool.

Each message is acknowledged and gets its own result only after its group committed;
a group holding a record stored before falls back to Celery's message-by-message path,
which still stores everything exactly once.
"""

from __future__ import annotations

import uuid

import orjson
import uuid_utils
from celery import states
from sqlalchemy import func, select

from app.extensions import db
from app.ingest.publish import pack_records
from app.models import Event, EventCount
from app.store.events import store_events
from tests.support.factories import make_record
from tests.support.processes import wait_for


def _record(app_id: str, n: int) -> dict:
    return make_record(
        app_id,
        client_event_id=f"grouped-{n}",
        event_name="screen_view",
        payload={"eventName": "screen_view", "n": n},
        status="unplanned",
    )


def _push_together(app, messages: list[tuple[str, tuple, str]]) -> None:
    """LPUSH every message in one round trip, so the worker receives them together."""
    publisher = app.extensions["celery_send"].__self__
    queue = publisher.queue_for("process_event_async")
    with publisher.client.pipeline(transaction=False) as pipe:
        for task_name, args, task_id in messages:
            message = publisher.message(task_name, args, task_id, "<records>", queue)
            pipe.lpush(queue, orjson.dumps(message))
        pipe.execute()


def _stored(app, app_id: str) -> tuple[int, int, int]:
    """(rows, summed counters, distinct stored_at) of one app."""
    with app.app_context():
        key = uuid.UUID(app_id)
        rows = db.session.scalar(select(func.count()).where(Event.app_id == key))
        counted = db.session.scalar(
            select(func.coalesce(func.sum(EventCount.count), 0)).where(EventCount.app_id == key)
        )
        moments = db.session.scalar(
            select(func.count(func.distinct(Event.stored_at))).where(Event.app_id == key)
        )
    return rows, counted, moments


def _result(app, task_id: str):
    backend = app.extensions["celery"].backend
    return backend.get_state(task_id), backend.get_result(task_id)


def test_small_messages_share_transactions_and_each_gets_its_result(
    app, make_tracked_app, default_worker
):
    target = make_tracked_app()
    records = [_record(target["id"], n) for n in range(60)]
    singles = [("process_event_async", (r,), r["id"]) for r in records[:40]]
    small_batches = [
        (
            "process_event_batch",
            (pack_records(records[40 + 5 * k : 45 + 5 * k]),),
            str(uuid.uuid4()),
        )
        for k in range(4)
    ]
    _push_together(app, singles + small_batches)

    wait_for(lambda: _stored(app, target["id"])[0] == 60, timeout=30)
    rows, counted, moments = _stored(app, target["id"])
    assert rows == counted == 60
    assert moments <= 10, f"{moments} transactions for 44 messages: they were not grouped"
    for _name, _args, task_id in singles:
        wait_for(lambda task_id=task_id: _result(app, task_id)[0] == states.SUCCESS, timeout=10)
        assert _result(app, task_id)[1] == {
            "received": 1,
            "stored": 1,
            "duplicates": 0,
            "apps": {target["id"]: 1},
        }
    for _name, _args, task_id in small_batches:
        wait_for(lambda task_id=task_id: _result(app, task_id)[0] == states.SUCCESS, timeout=10)
        assert _result(app, task_id)[1] == {
            "received": 5,
            "stored": 5,
            "duplicates": 0,
            "apps": {target["id"]: 5},
        }


def test_a_group_holding_a_stored_record_falls_back_and_stores_everything_once(
    app, make_tracked_app, default_worker
):
    target = make_tracked_app()
    records = [_record(target["id"], n) for n in range(20)]
    with app.app_context():
        assert store_events([records[7]]) == 1  # already stored: a redelivery, say
    _push_together(app, [("process_event_async", (r,), r["id"]) for r in records])

    for record in records:
        wait_for(lambda r=record: _result(app, r["id"])[0] == states.SUCCESS, timeout=30)
    rows, counted, _moments = _stored(app, target["id"])
    assert rows == counted == 20
    assert _result(app, records[7]["id"])[1] == {
        "received": 1,
        "stored": 0,
        "duplicates": 1,
        "apps": {target["id"]: 1},
    }
    assert _result(app, records[0]["id"])[1] == {
        "received": 1,
        "stored": 1,
        "duplicates": 0,
        "apps": {target["id"]: 1},
    }


def test_storage_changes_each_apps_mark_for_the_live_polls(app, make_tracked_app, default_worker):
    """Every stored group changes its apps' marks, an older id stored later included (the
    page's poll then looks back for it)."""
    from app.store.live_marks import KEY_PREFIX, MARK_TTL_SECONDS

    targets = [make_tracked_app()["id"] for _ in range(2)]
    backend = app.extensions["celery"].backend
    before = {t: backend.client.get(KEY_PREFIX + t) for t in targets}
    records = [
        make_record(target, id=str(uuid_utils.uuid7()), status="unplanned")
        for _ in range(10)
        for target in targets
    ]
    _push_together(app, [("process_event_async", (r,), r["id"]) for r in records])
    for target in targets:
        wait_for(lambda t=target: _stored(app, t)[0] == 10, timeout=30)
        wait_for(lambda t=target: backend.client.get(KEY_PREFIX + t) != before[t], timeout=30)
        assert 0 < backend.client.ttl(KEY_PREFIX + target) <= MARK_TTL_SECONDS

    # An older id stored later (a slower worker) changes the mark too.
    seen = backend.client.get(KEY_PREFIX + targets[0])
    older = make_record(targets[0], id=str(uuid.UUID(int=uuid.UUID(records[0]["id"]).int - 1)))
    _push_together(app, [("process_event_async", (older,), older["id"])])
    wait_for(lambda: _stored(app, targets[0])[0] == 11, timeout=30)
    wait_for(lambda: backend.client.get(KEY_PREFIX + targets[0]) != seen, timeout=30)
