"""Summaries of stored events, read from the per-minute counters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import EventCount


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
