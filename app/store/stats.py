"""Counts and charts for the dashboard, read only from the per-minute counters.

`event_counts` holds one row per app, minute, event name and status, written in the
same transaction as the events, so these figures equal the stored rows and never need
a scan of `events`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, func, select

from app.extensions import db
from app.models import EventCount
from app.store.ranges import TimeRange

STATUSES = ("valid", "invalid", "unplanned")


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


def series(app_id: uuid.UUID, window: TimeRange, now: datetime | None = None) -> dict:
    """Return the chart of a range: bucket start times and a count list per status."""
    now = now or datetime.now(UTC)
    step = window.bucket_seconds
    first = int(window.start(now).timestamp()) // step * step
    buckets = list(range(first, int(now.timestamp()) // step * step + 1, step))
    per_status = {status: [0] * len(buckets) for status in STATUSES}
    for bucket, status, total in _bucketed(app_id, datetime.fromtimestamp(first, UTC), step):
        index = (bucket - first) // step
        if 0 <= index < len(buckets) and status in per_status:
            per_status[status][index] += total
    return {"bucket_seconds": step, "t": buckets, **per_status}


def top_names(app_id: uuid.UUID, status: str, since: datetime, limit: int = 10) -> list[dict]:
    """Return the event names with the most events of one status since a moment."""
    total = func.sum(EventCount.count).label("total")
    query = (
        select(EventCount.event_name, total, func.max(EventCount.minute))
        .where(
            EventCount.app_id == app_id,
            EventCount.status == status,
            EventCount.minute >= _minute(since),
        )
        .group_by(EventCount.event_name)
        .order_by(total.desc(), EventCount.event_name)
        .limit(limit)
    )
    return [
        {"event_name": name, "count": int(count), "last_minute": _aware(last).isoformat()}
        for name, count, last in db.session.execute(query)
    ]


def summary(app_id: uuid.UUID, since: datetime, limit: int = 10) -> dict:
    """Return counts per status and the top invalid and unplanned names, in one query."""
    query = (
        select(
            EventCount.event_name,
            EventCount.status,
            func.sum(EventCount.count),
            func.max(EventCount.minute),
        )
        .where(EventCount.app_id == app_id, EventCount.minute >= _minute(since))
        .group_by(EventCount.event_name, EventCount.status)
    )
    totals = {status: 0 for status in STATUSES}
    named: dict[str, list[dict]] = {"invalid": [], "unplanned": []}
    for name, status, count, last in db.session.execute(query):
        totals[status] = totals.get(status, 0) + int(count)
        if status in named:
            named[status].append(
                {"event_name": name, "count": int(count), "last_minute": _aware(last).isoformat()}
            )
    for names in named.values():
        names.sort(key=lambda n: (-n["count"], n["event_name"]))
        del names[limit:]
    return {"counts": totals, "top_failing": named["invalid"], "unplanned": named["unplanned"]}


def _bucketed(app_id: uuid.UUID, start: datetime, step: int) -> list[tuple[int, str, int]]:
    """Sum the counters into buckets of `step` seconds: in SQL on PostgreSQL, else here."""
    if db.session.get_bind().dialect.name == "postgresql":
        query = bucket_query(app_id, start, step)
        return [(int(b), status, int(total)) for b, status, total in db.session.execute(query)]
    where = (EventCount.app_id == app_id, EventCount.minute >= start)
    query = select(EventCount.minute, EventCount.status, EventCount.count).where(*where)
    return [
        (int(_aware(minute).timestamp()) // step * step, status, int(total))
        for minute, status, total in db.session.execute(query)
    ]


def bucket_query(app_id: uuid.UUID, start: datetime, step: int) -> Select:
    """Build PostgreSQL's query summing the counters into buckets of `step` seconds."""
    bucket = func.floor(func.extract("epoch", EventCount.minute) / step) * step
    return (
        select(bucket, EventCount.status, func.sum(EventCount.count))
        .where(EventCount.app_id == app_id, EventCount.minute >= start)
        .group_by(bucket, EventCount.status)
    )


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
