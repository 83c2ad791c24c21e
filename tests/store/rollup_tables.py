"""Test helper: read the rollup tables by step (stored events per hour or day, error groups
of a range), to check what a rollup run wrote."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import DailyRollup, ErrorGroup, ErrorGroupHour, HourlyRollup
from app.models.events import STATUSES
from app.store.rollups.compute import STEPS, GroupKey, as_utc, floor_day, floor_hour, key_dict


def rollup_series(
    app_id: uuid.UUID, since: datetime, until: datetime, step: str = "day"
) -> list[dict]:
    """Return stored events per status for each hour or day in [since, until), from rollups.

    `step` is "hour" or "day"; `since` is rounded down and `until` up to whole steps.
    Every step is listed, empty ones with zeros: [{"at": datetime, "valid": n,
    "invalid": n, "unplanned": n, "total": n}, ...], oldest first. Reads only
    rollup_hourly / rollup_daily, so a 90-day range costs the same at any event volume.
    Figures are as fresh as the last rollup run (a minute for apps with traffic).
    """
    if step not in STEPS:
        raise ValueError(f"step must be one of {sorted(STEPS)}")
    table, column = (
        (HourlyRollup, HourlyRollup.hour) if step == "hour" else (DailyRollup, DailyRollup.day)
    )
    first = floor_hour(since) if step == "hour" else floor_day(since)
    until = as_utc(until)
    rows = db.session.execute(
        select(column, table.status, func.sum(table.count))
        .where(table.app_id == app_id, column >= first, column < until)
        .group_by(column, table.status)
    )
    buckets: dict[datetime, dict[str, int]] = {}
    moment = first
    while moment < until:
        buckets[moment] = dict.fromkeys(STATUSES, 0)
        moment += STEPS[step]
    for at, status, count in rows:
        bucket = buckets.setdefault(as_utc(at), dict.fromkeys(STATUSES, 0))
        bucket[status] = bucket.get(status, 0) + int(count)
    return [
        {"at": at, **bucket, "total": sum(bucket.values())}
        for at, bucket in sorted(buckets.items())
    ]


def rollup_error_groups(
    app_id: uuid.UUID, since: datetime, until: datetime, limit: int = 20
) -> list[dict]:
    """Return the error groups seen in [since, until), most frequent first, from rollups.

    Each: {"id", "event_name", "schema_version", "path", "keyword", "count" (events in
    the range), "first_seen" (ever), "last_seen" (in the range), "example_event_id",
    "new" (first seen inside the range)}. Hours are whole: `since` is rounded down.
    """
    hourly = ErrorGroupHour
    key_columns = (hourly.event_name, hourly.schema_version, hourly.path, hourly.keyword)
    ranked = (
        select(*key_columns, func.sum(hourly.count).label("n"), func.max(hourly.last_seen))
        .where(
            hourly.app_id == app_id, hourly.hour >= floor_hour(since), hourly.hour < as_utc(until)
        )
        .group_by(*key_columns)
        .order_by(func.sum(hourly.count).desc(), *key_columns)
        .limit(limit)
    )
    found = []
    for name, version, path, keyword, count, last_seen in db.session.execute(ranked):
        group = db.session.scalar(
            select(ErrorGroup).where(
                ErrorGroup.app_id == app_id,
                ErrorGroup.event_name == name,
                ErrorGroup.schema_version == version,
                ErrorGroup.path == path,
                ErrorGroup.keyword == keyword,
            )
        )
        first_seen = as_utc(group.first_seen) if group else as_utc(last_seen)
        found.append(
            {
                "id": group.id if group else None,
                **key_dict(GroupKey(name, version, path, keyword)),
                "count": int(count),
                "first_seen": first_seen,
                "last_seen": as_utc(last_seen),
                "example_event_id": str(group.example_event_id) if group else None,
                "new": first_seen >= floor_hour(since),
            }
        )
    return found
