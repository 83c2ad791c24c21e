"""Error groups of a dashboard range of a day or more: rolled-up hours plus raw recent events.

Ranges of 24 h and beyond start at a whole hour (the answer's `since`). The hours the
rollups hold complete (`rollup_marks`) are read from `error_group_hourly`; the rest
(the current hour, hours not rolled up yet) from the invalid events themselves, bounded
by their receive time like the rollups. Counts are events per (event name, JSON path,
keyword), summed over schema versions, so they equal a direct count over `events`. When
nothing is rolled up yet the answer is `error_groups.top_errors` over the raw events
(sampled beyond SAMPLE_EVENTS, and saying so).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import ErrorGroupHour, Event
from app.store.ranges import TimeRange
from app.store.reads import error_groups
from app.store.rollups import marks as rollup_marks
from app.store.rollups.compute import as_utc, floor_hour

EXAMPLES = error_groups.EXAMPLES_PER_GROUP
# Every group of a raw part is needed to add it to the rolled-up ones.
ALL_GROUPS = 100_000


def range_errors(
    app_id: uuid.UUID, window: TimeRange, now: datetime | None = None, limit: int = 20
) -> dict:
    """Return the range's biggest error groups (see the module's docstring)."""
    now = as_utc(now or datetime.now(UTC))
    since = window.start(now)
    if window.span < timedelta(hours=24):
        return error_groups.top_errors(app_id, since, limit)
    since = floor_hour(since)
    hours = rollup_marks.hours_inside(rollup_marks.complete_hours(app_id), since, now)
    if hours is None:
        return error_groups.top_errors(app_id, since, limit, received=(since, None))
    lo, hi = hours
    groups: dict[tuple, dict] = {}
    read, truncated = 0, False
    for received in ((since, lo), (hi, None)):
        if received[1] is not None and received[0] >= received[1]:
            continue
        raw = error_groups.top_errors(app_id, received[0], ALL_GROUPS, received=received)
        read += raw["events_read"]
        truncated = truncated or raw["truncated"]
        for group in raw["groups"]:
            _add(groups, group)
    for group in rolled_up_groups(app_id, lo, hi):
        read += group["count"]
        _add(groups, group)
    ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["event_name"], g["path"]))
    top = ranked[:limit]
    _fill_messages(app_id, top)
    return {
        "since": since.isoformat(),
        "events_read": read,
        "truncated": truncated,
        "groups": top,
    }


def rolled_up_groups(app_id: uuid.UUID, start: datetime, end: datetime) -> list[dict]:
    """Groups of the rolled-up hours in [start, end), with their newest examples."""
    hourly = ErrorGroupHour
    key = (hourly.event_name, hourly.path, hourly.keyword)
    ranked = (
        select(
            *key,
            hourly.example_event_id,
            hourly.last_seen,
            func.sum(hourly.count).over(partition_by=key).label("total"),
            func.row_number()
            .over(partition_by=key, order_by=(hourly.last_seen.desc(), hourly.hour.desc()))
            .label("position"),
        )
        .where(hourly.app_id == app_id, hourly.hour >= start, hourly.hour < end)
        .subquery()
    )
    rows = db.session.execute(
        select(ranked).where(ranked.c.position <= EXAMPLES).order_by(ranked.c.position)
    )
    found: dict[tuple, dict] = {}
    for name, path, keyword, example, last_seen, total, _position in rows:
        group = found.setdefault(
            (name, path, keyword),
            {
                "event_name": name,
                "path": path,
                "keyword": keyword,
                "message": "",
                "count": int(total),
                "last_seen": as_utc(last_seen).isoformat(),
                "example_ids": [],
            },
        )
        if str(example) not in group["example_ids"]:
            group["example_ids"].append(str(example))
    return list(found.values())


def _add(groups: dict[tuple, dict], group: dict) -> None:
    """Add a part's group to the total (newest examples and last seen win)."""
    key = (group["event_name"], group["path"], group["keyword"])
    known = groups.get(key)
    if known is None:
        groups[key] = {**group, "example_ids": list(group["example_ids"])}
        return
    known["count"] += group["count"]
    later = datetime.fromisoformat(group["last_seen"]) > datetime.fromisoformat(known["last_seen"])
    newer, older = (group, known) if later else (known, group)
    examples = newer["example_ids"] + older["example_ids"]
    known["example_ids"] = list(dict.fromkeys(examples))[:EXAMPLES]
    known["last_seen"] = newer["last_seen"]
    known["message"] = known["message"] or group["message"]


def _fill_messages(app_id: uuid.UUID, groups: list[dict]) -> None:
    """Rollups keep no message: take it from each group's newest example (one query)."""
    wanted = {uuid.UUID(g["example_ids"][0]): g for g in groups if not g["message"]}
    if not wanted:
        return
    rows = db.session.execute(
        select(Event.id, Event.errors).where(Event.app_id == app_id, Event.id.in_(wanted))
    )
    for event_id, errors in rows:
        group = wanted[event_id]
        for error in errors or ():
            if isinstance(error, dict) and (
                str(error.get("path", "")) == group["path"]
                and str(error.get("keyword", "")) == group["keyword"]
            ):
                group["message"] = error.get("message", "")
                break
