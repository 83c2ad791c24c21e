"""Counts from the per-minute counters: per app for the apps list, and the queries the
index test EXPLAINs; an app's summary for the CLI. A dashboard range's figures are in
`range_counts`.

`event_counts` holds one row per app, minute, event name and status, written in the
same transaction as the events, so these figures equal the stored rows and never need
a scan of `events`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, select

from app.extensions import db
from app.models import EventCount
from app.models.events import STATUSES


def counts(app_id: uuid.UUID, since: datetime) -> dict[str, int]:
    """Return stored events per status since a moment (to the minute)."""
    query = counts_query(app_id, since)
    found = {status: 0 for status in STATUSES}
    for status, total in db.session.execute(query):
        found[status] = int(total)
    return found


def counts_query(app_id: uuid.UUID, since: datetime) -> Select:
    """Build the per-status count query (a test EXPLAINs it)."""
    return (
        select(EventCount.status, func.sum(EventCount.count))
        .where(EventCount.app_id == app_id, EventCount.minute >= _minute(since))
        .group_by(EventCount.status)
    )


def counts_of_apps(app_ids: list[uuid.UUID], since: datetime) -> dict[uuid.UUID, dict[str, int]]:
    """Return per-status counts since a moment for several apps in one query."""
    found = {app_id: {status: 0 for status in STATUSES} for app_id in app_ids}
    if not app_ids:
        return found
    query = (
        select(EventCount.app_id, EventCount.status, func.sum(EventCount.count))
        .where(EventCount.app_id.in_(app_ids), EventCount.minute >= _minute(since))
        .group_by(EventCount.app_id, EventCount.status)
    )
    for app_id, status, total in db.session.execute(query):
        found[app_id][status] = int(total)
    return found


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def summarize(app_id: uuid.UUID, hours: float | None = None) -> dict:
    """Count stored events of an app by status and by event name (all time, or last N hours)."""
    query = select(EventCount.event_name, EventCount.status, func.sum(EventCount.count)).where(
        EventCount.app_id == app_id
    )
    if hours is not None:
        since = datetime.now(UTC) - timedelta(hours=hours)
        query = query.where(EventCount.minute >= since.replace(second=0, microsecond=0))
    query = query.group_by(EventCount.event_name, EventCount.status)
    by_status = {"valid": 0, "invalid": 0, "unplanned": 0}
    by_event: dict[str, dict[str, int]] = {}
    for event_name, status, count in db.session.execute(query):
        by_status[status] = by_status.get(status, 0) + int(count)
        per_event = by_event.setdefault(event_name or "(no eventName)", {})
        per_event[status] = per_event.get(status, 0) + int(count)
    return {
        "app_id": str(app_id),
        "hours": hours,
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_event": dict(sorted(by_event.items())),
    }
