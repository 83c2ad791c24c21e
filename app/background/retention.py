"""Retention: an app's events older than its retention are deleted in batches, each
batch taking its events out of the per-minute counters in the same transaction.

On PostgreSQL most events go with their day partition (store/partitions.py), dropped
once older than the longest retention of any app; `expire_app` deletes in batches only
what partitions cannot: the events of apps that keep less than the longest retention
(at most one day of them per run), and rows of the default partition. SQLite deletes
in batches.

Events and counters are cut at the same whole minute, so counters equal rows for the
retained window at every moment. Rollups are kept (the dashboard's long ranges read
them); client `eventId` idempotency holds for as long as the events are retained
(at least a day: retention is at least one day).

Events sent in a CI test run (`test_run`) are deleted TEST_RUN_HOURS after they were
received whatever the app's retention, with their client eventIds (a CI job that runs
again the next day may send the same ids), through the partial index of migration 0007.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, MetaData, Table, delete, func, select, text, update
from sqlalchemy.sql import ColumnElement

from app.extensions import db
from app.models import App, AppBackgroundSettings, Event, EventClientId, EventCount
from app.models.alerts import DEFAULT_RETENTION_DAYS
from app.models.types import as_utc
from app.store.locks import try_lock_for_transaction
from app.store.partitions import DEFAULT_PARTITION
from app.store.rollups.compute import floor_minute

MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 1, 3650
TEST_RUN_HOURS = 24
_EVENTS = Event.__table__
# The default partition on its own (its rows are not in any day partition).
_DEFAULT = Table(DEFAULT_PARTITION, MetaData(), *(Column(c.name, c.type) for c in _EVENTS.c))
_DELETE_CLIENT_IDS = text(
    "DELETE FROM event_client_ids WHERE app_id = :app AND client_event_id IN ("
    "SELECT client_event_id FROM event_client_ids "
    "WHERE app_id = :app AND received_at < :cutoff LIMIT :rows)"
)


def retention_days_of(app_id: uuid.UUID) -> int:
    """Days the app's events are kept (DEFAULT_RETENTION_DAYS unless set)."""
    days = db.session.scalar(
        select(AppBackgroundSettings.retention_days).where(AppBackgroundSettings.app_id == app_id)
    )
    return days or DEFAULT_RETENTION_DAYS


def set_retention(app_id: uuid.UUID, days: int) -> int:
    """Keep the app's events `days` days; raise ValueError outside 1..3650."""
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise ValueError(
            f"retention must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days"
        )
    found = db.session.get(AppBackgroundSettings, app_id)
    if found is None:
        found = AppBackgroundSettings(app_id=app_id)
        db.session.add(found)
    found.retention_days = days
    db.session.commit()
    return days


def longest_retention_days() -> int:
    """The longest retention of any app: day partitions older than it are dropped."""
    longest = db.session.scalar(
        select(func.max(func.coalesce(AppBackgroundSettings.retention_days, 0)))
        .select_from(App)
        .outerjoin(AppBackgroundSettings, AppBackgroundSettings.app_id == App.id)
    )
    return max(longest or 0, DEFAULT_RETENTION_DAYS)


def expire_app(
    app_id: uuid.UUID, batch_rows: int, now: datetime, partitioned: bool, longest_days: int
) -> int:
    """Apply the app's retention where dropping partitions does not; return events deleted."""
    if not partitioned:
        return delete_expired(app_id, batch_rows, now)
    delete_expired_client_ids(app_id, batch_rows, now)
    if retention_days_of(app_id) >= longest_days:
        return delete_expired(app_id, batch_rows, now, source=_DEFAULT)
    return delete_expired(app_id, batch_rows, now, days_per_run=1)


def delete_expired_client_ids(app_id: uuid.UUID, batch_rows: int, now: datetime) -> int:
    """Forget the app's client eventIds older than its retention (PostgreSQL), in batches."""
    cutoff = as_utc(now) - timedelta(days=retention_days_of(app_id))
    deleted = 0
    while True:
        removed = db.session.execute(
            _DELETE_CLIENT_IDS, {"app": str(app_id), "cutoff": cutoff, "rows": batch_rows}
        ).rowcount
        db.session.commit()
        deleted += removed
        if removed < batch_rows:
            return deleted


def delete_expired(
    app_id: uuid.UUID,
    batch_rows: int,
    now: datetime | None = None,
    days_per_run: int | None = None,
    source: Table = _EVENTS,
) -> int:
    """Delete the app's events older than its retention from `source` (events, or one of
    its partitions), `batch_rows` per transaction, at most `days_per_run` days of them
    from the oldest on; return how many. A run that finds another holding the app's lock
    deletes nothing."""
    cutoff = floor_minute(
        as_utc(now or datetime.now(UTC)) - timedelta(days=retention_days_of(app_id))
    )
    if days_per_run is not None:
        oldest = db.session.scalar(
            select(func.min(source.c.received_at)).where(source.c.app_id == app_id)
        )
        if oldest is not None:
            cutoff = min(cutoff, floor_minute(as_utc(oldest)) + timedelta(days=days_per_run))
    return _delete_in_batches(
        app_id, batch_rows, lambda: _delete_batch(source, app_id, cutoff, batch_rows)
    )


def expire_test_runs(app_id: uuid.UUID, batch_rows: int, now: datetime | None = None) -> int:
    """Delete the app's test-run events received TEST_RUN_HOURS ago or earlier, and their
    client eventIds, `batch_rows` per transaction; return how many events."""
    cutoff = as_utc(now or datetime.now(UTC)) - timedelta(hours=TEST_RUN_HOURS)
    test_runs = _EVENTS.c.test_run.is_not(None)
    return _delete_in_batches(
        app_id, batch_rows, lambda: _delete_batch(_EVENTS, app_id, cutoff, batch_rows, test_runs)
    )


def _delete_in_batches(app_id: uuid.UUID, batch_rows: int, delete_one: Callable[[], int]) -> int:
    """Run `delete_one` a transaction at a time under the app's retention lock (a second
    runner stops) until a batch comes back short; return the rows deleted."""
    deleted = 0
    while True:
        try:
            if not try_lock_for_transaction("retention", str(app_id)):
                db.session.rollback()
                return deleted
            removed = delete_one()
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        deleted += removed
        if removed < batch_rows:
            return deleted


def _delete_batch(
    source: Table,
    app_id: uuid.UUID,
    cutoff: datetime,
    batch_rows: int,
    only: ColumnElement[bool] | None = None,
) -> int:
    # The batch ends at the received_at of its last row, so that the DELETE is a range
    # of the (app_id, received_at) index of each partition (an `id IN (subquery)` over a
    # partitioned table would look for each id in every partition).
    in_range = source.c.received_at < cutoff
    if only is not None:  # test-run events only: they also lose their client ids
        in_range = in_range & only
    last = db.session.scalar(
        select(source.c.received_at)
        .where(source.c.app_id == app_id, in_range)
        .order_by(source.c.received_at)
        .offset(batch_rows - 1)
        .limit(1)
    )
    in_batch = in_range
    if last is not None:
        in_batch = in_batch & (source.c.received_at <= last)
    gone = db.session.execute(
        delete(source)
        .where(source.c.app_id == app_id, in_batch)
        .returning(
            source.c.received_at, source.c.event_name, source.c.status, source.c.client_event_id
        )
    ).all()
    if not gone:
        return 0
    if only is not None:
        _forget_client_ids(app_id, [client_id for *_, client_id in gone if client_id])
    per_counter = Counter(
        (floor_minute(received_at), name, status) for received_at, name, status, _ in gone
    )
    # The storage path's lock order (app, minute, name, status), so neither deadlocks.
    for (minute, name, status), n in sorted(per_counter.items()):
        db.session.execute(
            update(EventCount)
            .where(
                EventCount.app_id == app_id,
                EventCount.minute == minute,
                EventCount.event_name == name,
                EventCount.status == status,
            )
            .values(count=EventCount.count - n)
        )
    db.session.execute(
        delete(EventCount).where(
            EventCount.app_id == app_id, EventCount.minute < cutoff, EventCount.count <= 0
        )
    )
    return len(gone)


def _forget_client_ids(app_id: uuid.UUID, client_ids: list[str]) -> None:
    """Forget deleted events' client eventIds (PostgreSQL keeps them in their own table)."""
    if client_ids and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            delete(EventClientId).where(
                EventClientId.app_id == app_id, EventClientId.client_event_id.in_(client_ids)
            )
        )


def apps_with_events() -> list[uuid.UUID]:
    """Every app id (retention looks at each)."""
    return list(db.session.scalars(select(App.id).order_by(App.id)))
