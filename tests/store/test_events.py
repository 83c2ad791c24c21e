"""store_events on PostgreSQL: odd values survive COPY, duplicates add nothing, counters match."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ingest.records import new_event_id
from app.models import Event, EventCount
from app.store.events import store_events
from tests.support.factories import make_record

AWKWARD = [
    {"event_name": ""},
    {"client_event_id": 'id,with "quotes"\nand a newline'},
    {"payload": {"text": 'a "quoted", comma\\backslash\ttab\nnewline', "emoji": "🚀"}},
    {"payload": {"nested": [{"deep": [None, True, 1.5e10, -0.0, 0.1]}]}},
    {"payload": "\\N"},
    {"event_name": "tab\there, back\\slash, cr\r, \\t"},
    {"client_event_id": "\\N"},
    {"client_event_id": "ends with a backslash\\"},
    {"payload": {"k\\ey\t": "\u2028 line separator", "control": "\u0001\u001f"}},
    {"errors": [{"path": "/a~1b", "keyword": "type", "message": '"x" is not of type "integer"'}]},
    {"schema_version": 7, "status": "invalid"},
    {"client_ts": "2026-11-20T23:59:59.999999+00:00", "status": "unplanned"},
]


@pytest.mark.parametrize("fields", AWKWARD)
def test_awkward_values_are_stored_exactly(app, make_tracked_app, fields):
    target = make_tracked_app()
    record = make_record(target["id"], **fields)
    with app.app_context():
        assert store_events([record]) == 1
        stored = db.session.get(Event, uuid.UUID(record["id"]))
        assert stored.event_name == record["event_name"]
        assert stored.client_event_id == record["client_event_id"]
        assert stored.payload == record["payload"]
        assert stored.errors == record["errors"]
        assert stored.schema_version == record["schema_version"]
        assert stored.status == record["status"]
        expected_ts = record["client_ts"] and datetime.fromisoformat(record["client_ts"])
        assert stored.client_ts == (expected_ts or None)


def test_redelivery_and_client_retries_add_nothing_and_counters_match(app, make_tracked_app):
    target = make_tracked_app()
    first = [make_record(target["id"], client_event_id=f"c-{n}") for n in range(300)]
    retried = [make_record(target["id"], client_event_id=f"c-{n}") for n in range(250, 350)]
    within_batch_twice = [make_record(target["id"], client_event_id="twice") for _ in range(2)]
    with app.app_context():
        assert store_events(first) == 300
        assert store_events(first) == 0  # the same message delivered again
        assert store_events(retried) == 50  # c-300 .. c-349 are new
        assert store_events(within_batch_twice) == 1
        app_id = uuid.UUID(target["id"])
        rows = db.session.scalar(select(func.count()).where(Event.app_id == app_id))
        counted = db.session.scalar(
            select(func.sum(EventCount.count)).where(EventCount.app_id == app_id)
        )
        minutes = db.session.scalars(
            select(EventCount.minute).where(EventCount.app_id == app_id)
        ).all()
    assert rows == counted == 351
    assert minutes == [datetime(2026, 11, 21, 12, 30, tzinfo=UTC)]


def test_a_failed_batch_leaves_nothing_behind_and_the_next_one_works(app, make_tracked_app):
    target = make_tracked_app()
    broken = [
        make_record(target["id"]),
        make_record(str(uuid.uuid4())),
    ]  # unknown app: FK violation
    good = make_record(target["id"])
    with app.app_context():
        with pytest.raises(Exception, match="foreign key"):
            store_events(broken)
        assert store_events([good]) == 1
        app_id = uuid.UUID(target["id"])
        assert db.session.scalar(select(func.count()).where(Event.app_id == app_id)) == 1


def test_direct_copy_counts_per_minute_and_event_like_the_careful_path(app, make_tracked_app):
    target = make_tracked_app()
    at = [
        datetime(2026, 11, 21, 9, 0, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 21, 9, 1, 0, tzinfo=UTC),
    ]
    fresh = [
        make_record(target["id"], received_at=at[n % 2].isoformat(), event_name=name, status=status)
        for n, (name, status) in enumerate(
            [("b", "valid"), ("a", "invalid"), ("b", "valid"), ("a", "valid")] * 5
        )
    ]
    again = fresh[:3] + [make_record(target["id"], received_at=at[0].isoformat(), event_name="a")]
    with app.app_context():
        assert store_events(fresh) == 20  # no duplicate: the direct COPY
        assert store_events(again) == 1  # holds stored records: the careful path
        app_id = uuid.UUID(target["id"])
        counts = {
            (row.minute.minute, row.event_name, row.status): row.count
            for row in db.session.scalars(select(EventCount).where(EventCount.app_id == app_id))
        }
        stored_at = db.session.scalars(select(Event.stored_at).where(Event.app_id == app_id))
        assert all(moment is not None for moment in stored_at)
    assert counts == {
        (0, "b", "valid"): 10,
        (1, "a", "invalid"): 5,
        (1, "a", "valid"): 5,
        (0, "a", "valid"): 1,  # the one new record of the second batch
    }


def test_a_batch_task_stores_records_sent_as_json_text(app, make_tracked_app):
    from app.ingest.publish import pack_records
    from app.worker.celery_app import worker_celery
    from app.worker.tasks.storage import process_event_batch

    worker_celery(app)

    target = make_tracked_app()
    records = [make_record(target["id"], payload={"n": n, "text": 'say "hi"'}) for n in range(3)]
    with app.app_context():
        result = process_event_batch.apply(args=(pack_records(records),)).get()
        stored = db.session.scalars(
            select(Event.payload).where(Event.app_id == uuid.UUID(target["id"]))
        ).all()
    assert result == {
        "received": 3,
        "stored": 3,
        "duplicates": 0,
        "apps": {target["id"]: 3},  # each app's share (a task may carry several apps)
    }
    assert sorted(payload["n"] for payload in stored) == [0, 1, 2]


def test_event_ids_are_time_ordered_so_new_rows_append_to_the_primary_key(app):
    ids = []
    for _ in range(3):
        ids.append(new_event_id())
        time.sleep(0.002)
    parsed = [uuid.UUID(event_id) for event_id in ids]
    assert [u.version for u in parsed] == [7, 7, 7]
    assert parsed == sorted(parsed)
    assert len(set(ids)) == 3
