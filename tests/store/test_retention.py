"""Retention by batched deletes: exactly the expired events go, counters stay equal to the
rows, concurrent runs agree, storage keeps working meanwhile, settings are checked."""

from __future__ import annotations

import functools
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from app.background import retention
from app.extensions import db
from app.models import Event, EventCount
from app.store.events import store_events
from tests.background import counters_equal_rows, store_at
from tests.support.factories import make_record

NOW = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)


def _fill(app_id: str) -> tuple[int, int]:
    """Events from 40 days ago to now (some in the cutoff's minute); return (old, kept)."""
    old = [NOW - timedelta(days=d, minutes=m) for d in range(31, 41) for m in range(0, 60, 7)]
    kept = [NOW - timedelta(days=d, minutes=m) for d in range(0, 30) for m in range(0, 60, 7)]
    edge = NOW - timedelta(days=30)  # 12:00:30 -> cutoff minute 12:00; 12:00:xx stays
    kept.append(edge)
    old.append(edge - timedelta(seconds=31))  # 11:59:59 goes
    store_events([make_record(app_id, received_at=m.isoformat()) for m in old + kept])
    return len(old), len(kept)


def test_retention_deletes_exactly_the_expired_events_in_batches(app, make_tracked_app):
    target = make_tracked_app()
    with app.app_context():
        old, kept = _fill(target["id"])
        assert retention.retention_days_of(uuid.UUID(target["id"])) == 30
        assert retention.delete_expired(uuid.UUID(target["id"]), batch_rows=7, now=NOW) == old
        remaining = db.session.scalar(
            select(func.count()).where(Event.app_id == uuid.UUID(target["id"]))
        )
        assert remaining == kept
        oldest = db.session.scalar(
            select(func.min(Event.received_at)).where(Event.app_id == uuid.UUID(target["id"]))
        )
        assert oldest >= NOW - timedelta(days=30, seconds=30)
        assert counters_equal_rows(target["id"])
        assert retention.delete_expired(uuid.UUID(target["id"]), batch_rows=7, now=NOW) == 0


def test_concurrent_runs_and_storage_during_retention(app, make_tracked_app):
    target = make_tracked_app()
    with app.app_context():
        old, kept = _fill(target["id"])
    deleted = []
    stored = []

    def run_retention() -> None:
        with app.app_context():
            deleted.append(retention.delete_expired(uuid.UUID(target["id"]), 5, now=NOW))

    def keep_storing() -> None:
        with app.app_context():
            for _ in range(20):
                records = [make_record(target["id"], received_at=NOW.isoformat()) for _ in range(5)]
                stored.append(store_events(records))

    threads = [threading.Thread(target=f) for f in (run_retention, run_retention, keep_storing)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert sum(deleted) == old
        assert sum(stored) == 100
        remaining = db.session.scalar(
            select(func.count()).where(Event.app_id == uuid.UUID(target["id"]))
        )
        assert remaining == kept + 100
        assert counters_equal_rows(target["id"])
        counted = db.session.scalar(
            select(func.sum(EventCount.count)).where(EventCount.app_id == uuid.UUID(target["id"]))
        )
        assert counted == kept + 100


def test_a_client_retry_within_retention_is_stored_once(app, make_tracked_app):
    target = make_tracked_app()
    with app.app_context():
        store_at(target["id"], NOW - timedelta(hours=23), client_event_id="retry-me")
        retention.delete_expired(uuid.UUID(target["id"]), 100, now=NOW)
        again = make_record(target["id"], client_event_id="retry-me", received_at=NOW.isoformat())
        assert store_events([again]) == 0


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_retention_outside_its_range_is_refused(app, make_tracked_app, days):
    target = make_tracked_app()
    with app.app_context(), pytest.raises(ValueError, match="between 1 and 3650"):
        retention.set_retention(uuid.UUID(target["id"]), days)


def test_a_shorter_retention_deletes_more(app, make_tracked_app):
    target = make_tracked_app()
    with app.app_context():
        old, kept = _fill(target["id"])
        retention.set_retention(uuid.UUID(target["id"]), 10)
        deleted = retention.delete_expired(uuid.UUID(target["id"]), 1000, now=NOW)
        assert deleted > old
        assert counters_equal_rows(target["id"])


def test_a_partitioned_run_deletes_one_day_of_a_short_retention_and_old_client_ids(
    app, make_tracked_app
):
    target = make_tracked_app()
    app_id = uuid.UUID(target["id"])
    with app.app_context():
        retention.set_retention(app_id, 1)
        for days in (5, 4, 0):
            store_at(target["id"], NOW - timedelta(days=days), client_event_id=f"c-{days}")
        expire = functools.partial(
            retention.expire_app, app_id, 100, NOW, partitioned=True, longest_days=30
        )
        assert expire() == 1  # the oldest day only
        assert expire() == 1
        assert expire() == 0
        assert counters_equal_rows(target["id"])
        claims = db.session.scalars(
            text("SELECT client_event_id FROM event_client_ids WHERE app_id = :app"),
            {"app": target["id"]},
        ).all()
        assert claims == ["c-0"]


def test_an_app_at_the_longest_retention_leaves_day_partitions_to_be_dropped(app, make_tracked_app):
    from app.store import partitions
    from tests.background import event_id_at

    target = make_tracked_app()
    app_id = uuid.UUID(target["id"])
    old = NOW - timedelta(days=40)
    with app.app_context():
        partitions.create_partitions(old.date(), days_ahead=0)
        try:
            stray = store_at(target["id"], old)  # a uuid4 id: in the default partition
            dated = make_record(target["id"], id=event_id_at(old), received_at=old.isoformat())
            assert store_events([dated]) == 1
            expire = functools.partial(
                retention.expire_app, app_id, 100, NOW, partitioned=True, longest_days=30
            )
            assert expire() == 1
            left = db.session.scalars(select(Event.id).where(Event.app_id == app_id)).all()
            assert [str(event_id) for event_id in left] == [dated["id"]]
            assert stray["id"] != dated["id"]
            assert partitions.drop_expired_partitions(NOW, keep_days=30) == [
                partitions.partition_name(old.date())
            ]
            assert counters_equal_rows(target["id"])
            assert db.session.scalar(select(func.count()).where(Event.app_id == app_id)) == 0
        finally:
            partitions.drop_expired_partitions(old + timedelta(days=1), keep_days=0)
