"""Retention: an app's events older than its retention are deleted in batches, each
batch taking its events out of the per-minute counters in the same transaction.

Events and counters are cut at the same whole minute, so counters equal rows for the
retained window at every moment. Rollups are kept (the dashboard's long ranges read
them); client `eventId` idempotency holds for as long as the events are retained
(at least a day: retention is at least one day).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from app.extensions import db
from app.models import App, AppBackgroundSettings, Event, EventCount
from app.models.alerts import DEFAULT_RETENTION_DAYS
from app.store.locks import try_lock_for_transaction
from app.store.rollups import as_utc, floor_minute

MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 1, 3650


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


def delete_expired(app_id: uuid.UUID, batch_rows: int, now: datetime | None = None) -> int:
    """Delete the app's events older than its retention, `batch_rows` per transaction;
    return how many. A run that finds another holding the app's lock deletes nothing."""
    cutoff = floor_minute(
        as_utc(now or datetime.now(UTC)) - timedelta(days=retention_days_of(app_id))
    )
    deleted = 0
    while True:
        try:
            if not try_lock_for_transaction("retention", str(app_id)):
                db.session.rollback()
                return deleted
            removed = _delete_batch(app_id, cutoff, batch_rows)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        deleted += removed
        if removed < batch_rows:
            return deleted


def _delete_batch(app_id: uuid.UUID, cutoff: datetime, batch_rows: int) -> int:
    oldest = (
        select(Event.id)
        .where(Event.app_id == app_id, Event.received_at < cutoff)
        .order_by(Event.received_at)
        .limit(batch_rows)
    )
    gone = db.session.execute(
        delete(Event)
        .where(Event.id.in_(oldest.scalar_subquery()))
        .returning(Event.received_at, Event.event_name, Event.status)
    ).all()
    if not gone:
        return 0
    per_counter = Counter(
        (floor_minute(received_at), name, status) for received_at, name, status in gone
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


def apps_with_events() -> list[uuid.UUID]:
    """Every app id (retention looks at each)."""
    return list(db.session.scalars(select(App.id).order_by(App.id)))
