"""Hourly and daily rollups and error groups: written by the `batch_processing` pool, read
by the dashboard for ranges beyond 24 hours.

A run recomputes every whole UTC hour its window touches, from the per-minute counters
(which always equal the rows) and from the invalid events' errors, and replaces those
hours' rows. So a run is idempotent, and an event that arrives late for a past hour is
counted by the next run whose window covers that hour (the hourly run looks 24 h back).
Days are the sums of their hours. Writers take a per-app advisory lock
(`app.store.locks`); a second concurrent run skips. The dashboard reads them through
`store/reads/range_counts.py` and `range_errors.py`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import (
    App,
    DailyRollup,
    ErrorGroup,
    ErrorGroupHour,
    Event,
    EventCount,
    HourlyRollup,
)
from app.models.types import as_utc, rfc3339
from app.store.locks import try_lock_for_transaction

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Long JSON paths are cut so a group's key stays within PostgreSQL's index row limit.
MAX_PATH_CHARS = 1000
MAX_KEYWORD_CHARS = 100
STEPS = {"hour": HOUR, "day": DAY}


def floor_hour(moment: datetime) -> datetime:
    """The UTC hour a moment falls in."""
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    """The UTC day (as midnight) a moment falls in."""
    return floor_hour(moment).replace(hour=0)


@dataclass(frozen=True)
class GroupKey:
    event_name: str
    schema_version: int
    path: str
    keyword: str


def roll_up(app_id: uuid.UUID, hours: float = 24, now: datetime | None = None) -> dict:
    """Recompute the app's hourly and daily rollups and error groups for the last `hours`.

    Returns the window, the counts per event name and status, the error groups seen in
    it and the new violations (groups first seen inside the window). Commits.
    """
    if hours <= 0:
        raise ValueError("hours must be positive")
    now = as_utc(now or datetime.now(UTC))
    start, end = floor_hour(now - timedelta(hours=hours)), floor_hour(now) + HOUR
    try:
        if not try_lock_for_transaction("rollup", str(app_id)):
            db.session.rollback()
            return {"app_id": str(app_id), "skipped": "another run holds this app's lock"}
        counts, group_hours, groups = recompute_hours(app_id, start, end)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return _summary(app_id, start, end, counts, group_hours, groups)


def recompute_hours(app_id: uuid.UUID, start: datetime, end: datetime) -> tuple[dict, dict, dict]:
    """Replace the rollups of the whole hours in [start, end) in the caller's transaction
    (which holds the app's "rollup" lock); return the counts, group hours and groups."""
    counts = _hourly_counts(app_id, start, end)
    _replace_hours(app_id, start, end, counts)
    _replace_days(app_id, floor_day(start), floor_day(end - HOUR) + DAY)
    before = _group_keys_in(app_id, start, end)
    group_hours = _error_group_hours(app_id, start, end)
    _replace_group_hours(app_id, start, end, group_hours)
    groups = refresh_groups(app_id, before | {key for _hour, key in group_hours})
    return counts, group_hours, groups


def _hourly_counts(app_id: uuid.UUID, start: datetime, end: datetime) -> dict[tuple, int]:
    """{(hour, event_name, status): count} from the per-minute counters."""
    rows = db.session.execute(
        select(EventCount.minute, EventCount.event_name, EventCount.status, EventCount.count).where(
            EventCount.app_id == app_id, EventCount.minute >= start, EventCount.minute < end
        )
    )
    counts: dict[tuple, int] = defaultdict(int)
    for minute, event_name, status, count in rows:
        counts[(floor_hour(minute), event_name, status)] += count
    return {key: n for key, n in counts.items() if n}


def _replace_hours(app_id: uuid.UUID, start: datetime, end: datetime, counts: dict) -> None:
    table = HourlyRollup.__table__
    db.session.execute(
        delete(table).where(table.c.app_id == app_id, table.c.hour >= start, table.c.hour < end)
    )
    rows = [
        {"app_id": app_id, "hour": hour, "event_name": name, "status": status, "count": n}
        for (hour, name, status), n in counts.items()
    ]
    _insert(table, rows)


def _replace_days(app_id: uuid.UUID, first_day: datetime, end_day: datetime) -> None:
    """Recompute whole days from their hours."""
    hourly = db.session.execute(
        select(HourlyRollup.hour, HourlyRollup.event_name, HourlyRollup.status, HourlyRollup.count)
        .where(HourlyRollup.app_id == app_id)
        .where(HourlyRollup.hour >= first_day, HourlyRollup.hour < end_day)
    )
    days: dict[tuple, int] = defaultdict(int)
    for hour, name, status, count in hourly:
        days[(floor_day(hour), name, status)] += count
    table = DailyRollup.__table__
    db.session.execute(
        delete(table).where(
            table.c.app_id == app_id, table.c.day >= first_day, table.c.day < end_day
        )
    )
    rows = [
        {"app_id": app_id, "day": day, "event_name": name, "status": status, "count": n}
        for (day, name, status), n in days.items()
    ]
    _insert(table, rows)


# PostgreSQL groups the errors itself: a busy app's two-hour window can hold hundreds of
# thousands of invalid events, which Python would have to decode one by one.
_GROUP_HOURS_SQL = f"""
SELECT date_trunc('hour', received_at, 'UTC'), event_name, coalesce(schema_version, 0),
       left(coalesce(e->>'path', ''), {MAX_PATH_CHARS}),
       left(coalesce(e->>'keyword', ''), {MAX_KEYWORD_CHARS}),
       count(DISTINCT id), min(received_at), max(received_at),
       (array_agg(id ORDER BY received_at DESC))[1]
FROM events
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(errors) = 'array' THEN errors ELSE '[]'::jsonb END) AS e
WHERE app_id = CAST(:app AS uuid) AND status = 'invalid'
  AND received_at >= :start AND received_at < :end AND jsonb_typeof(e) = 'object'
GROUP BY 1, 2, 3, 4, 5
"""


def _error_group_hours(app_id: uuid.UUID, start: datetime, end: datetime) -> dict[tuple, dict]:
    """{(hour, GroupKey): {count, first_seen, last_seen, example}} from invalid events."""
    if db.session.get_bind().dialect.name == "postgresql":
        rows = db.session.execute(
            text(_GROUP_HOURS_SQL), {"app": str(app_id), "start": start, "end": end}
        )
        return {
            (as_utc(hour), GroupKey(name, version, path, keyword)): {
                "count": count,
                "first_seen": as_utc(first),
                "last_seen": as_utc(last),
                "example": example,
            }
            for hour, name, version, path, keyword, count, first, last, example in rows
        }
    rows = db.session.execute(
        select(Event.id, Event.event_name, Event.schema_version, Event.errors, Event.received_at)
        .where(Event.app_id == app_id, Event.status == "invalid")
        .where(Event.received_at >= start, Event.received_at < end)
    )
    groups: dict[tuple, dict] = {}
    for event_id, event_name, schema_version, errors, received_at in rows:
        received_at = as_utc(received_at)
        hour = floor_hour(received_at)
        keys = {
            GroupKey(
                event_name,
                schema_version or 0,
                str(error.get("path", ""))[:MAX_PATH_CHARS],
                str(error.get("keyword", ""))[:MAX_KEYWORD_CHARS],
            )
            for error in errors or ()
            if isinstance(error, dict)
        }
        for key in keys:
            group = groups.get((hour, key))
            if group is None:
                groups[(hour, key)] = {
                    "count": 1,
                    "first_seen": received_at,
                    "last_seen": received_at,
                    "example": event_id,
                }
                continue
            group["count"] += 1
            group["first_seen"] = min(group["first_seen"], received_at)
            if received_at >= group["last_seen"]:  # the latest event is the example
                group["last_seen"], group["example"] = received_at, event_id
    return groups


def _group_keys_in(app_id: uuid.UUID, start: datetime, end: datetime) -> set[GroupKey]:
    table = ErrorGroupHour.__table__
    rows = db.session.execute(
        select(table.c.event_name, table.c.schema_version, table.c.path, table.c.keyword).where(
            table.c.app_id == app_id, table.c.hour >= start, table.c.hour < end
        )
    )
    return {GroupKey(*row) for row in rows}


def _replace_group_hours(
    app_id: uuid.UUID, start: datetime, end: datetime, groups: dict[tuple, dict]
) -> None:
    table = ErrorGroupHour.__table__
    db.session.execute(
        delete(table).where(table.c.app_id == app_id, table.c.hour >= start, table.c.hour < end)
    )
    rows = [
        {
            "app_id": app_id,
            "hour": hour,
            "event_name": key.event_name,
            "schema_version": key.schema_version,
            "path": key.path,
            "keyword": key.keyword,
            "count": group["count"],
            "first_seen": group["first_seen"],
            "last_seen": group["last_seen"],
            "example_event_id": group["example"],
        }
        for (hour, key), group in groups.items()
    ]
    _insert(table, rows)


def refresh_groups(app_id: uuid.UUID, keys: set[GroupKey]) -> dict[GroupKey, dict]:
    """Recompute the given groups' totals over all their hours (in the caller's
    transaction); return them by key."""
    if not keys:
        return {}
    totals: dict[GroupKey, dict] = {}
    hourly = ErrorGroupHour.__table__
    key_columns = (hourly.c.event_name, hourly.c.schema_version, hourly.c.path, hourly.c.keyword)
    for chunk in _chunks(sorted(keys, key=_key_order), 500):
        rows = db.session.execute(
            select(*key_columns, hourly.c.count, hourly.c.first_seen, hourly.c.last_seen)
            .add_columns(hourly.c.example_event_id)
            .where(hourly.c.app_id == app_id)
            .where(tuple_(*key_columns).in_([_key_tuple(key) for key in chunk]))
        )
        for name, version, path, keyword, count, first, last, example in rows:
            total = totals.setdefault(
                GroupKey(name, version, path, keyword),
                {"count": 0, "first_seen": as_utc(first), "last_seen": as_utc(last)},
            )
            total["count"] += count
            total["first_seen"] = min(total["first_seen"], as_utc(first))
            if as_utc(last) >= total["last_seen"]:
                total["last_seen"] = as_utc(last)
                total["example"] = example
            total.setdefault("example", example)
    existing = _existing_groups(app_id, keys)
    rows = []
    for key in sorted(keys, key=_key_order):
        total = totals.get(key)
        known = existing.get(key)
        if total is None and known is None:
            continue
        if total is None:  # its events are gone (retention, re-validation): keep it at zero
            total = {**known, "count": 0}
        elif known is not None:
            total["first_seen"] = min(total["first_seen"], known["first_seen"])
        totals[key] = total
        rows.append(
            {
                "app_id": app_id,
                "event_name": key.event_name,
                "schema_version": key.schema_version,
                "path": key.path,
                "keyword": key.keyword,
                "count": total["count"],
                "first_seen": total["first_seen"],
                "last_seen": total["last_seen"],
                "example_event_id": total["example"],
            }
        )
    _upsert_groups(rows)
    return totals


def _existing_groups(app_id: uuid.UUID, keys: set[GroupKey]) -> dict[GroupKey, dict]:
    table = ErrorGroup.__table__
    key_columns = (table.c.event_name, table.c.schema_version, table.c.path, table.c.keyword)
    found = {}
    for chunk in _chunks(sorted(keys, key=_key_order), 500):
        rows = db.session.execute(
            select(*key_columns, table.c.first_seen, table.c.last_seen, table.c.example_event_id)
            .where(table.c.app_id == app_id)
            .where(tuple_(*key_columns).in_([_key_tuple(key) for key in chunk]))
        )
        for name, version, path, keyword, first, last, example in rows:
            found[GroupKey(name, version, path, keyword)] = {
                "first_seen": as_utc(first),
                "last_seen": as_utc(last),
                "example": example,
            }
    return found


def _upsert_groups(rows: list[dict]) -> None:
    if not rows:
        return
    table = ErrorGroup.__table__
    insert = dialect_insert()
    for chunk in _chunks(rows, 500):
        statement = insert(table).values(chunk)
        excluded = statement.excluded
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["app_id", "event_name", "schema_version", "path", "keyword"],
                set_={
                    "count": excluded.count,
                    "first_seen": excluded.first_seen,
                    "last_seen": excluded.last_seen,
                    "example_event_id": excluded.example_event_id,
                },
            )
        )


def _summary(
    app_id: uuid.UUID,
    start: datetime,
    end: datetime,
    counts: dict[tuple, int],
    group_hours: dict[tuple, dict],
    groups: dict[GroupKey, dict],
) -> dict:
    by_event: dict[str, dict[str, int]] = {}
    for (_hour, name, status), n in counts.items():
        per_event = by_event.setdefault(name, {})
        per_event[status] = per_event.get(status, 0) + n
    in_window: dict[GroupKey, int] = defaultdict(int)
    for (_hour, key), group in group_hours.items():
        in_window[key] += group["count"]
    seen = [
        {**key_dict(key), "count": n, "first_seen": rfc3339(groups[key]["first_seen"])}
        for key, n in sorted(in_window.items(), key=lambda kv: (-kv[1], _key_order(kv[0])))
    ]
    return {
        "app_id": str(app_id),
        "since": start.isoformat(),
        "until": end.isoformat(),
        "total": sum(counts.values()),
        "by_event": dict(sorted(by_event.items())),
        "error_groups": seen,
        "new_violations": [group for group in seen if group["first_seen"] >= start.isoformat()],
    }


def key_dict(key: GroupKey) -> dict:
    return {
        "event_name": key.event_name,
        "schema_version": key.schema_version or None,
        "path": key.path,
        "keyword": key.keyword,
    }


def _key_tuple(key: GroupKey) -> tuple:
    return (key.event_name, key.schema_version, key.path, key.keyword)


def _key_order(key: GroupKey) -> tuple:
    return _key_tuple(key)


def _insert(table, rows: list[dict]) -> None:
    for chunk in _chunks(rows, 1000):
        db.session.execute(table.insert(), chunk)


def dialect_insert():
    """The INSERT construct with ON CONFLICT of the session's database."""
    return (
        postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )


def _chunks(items: list, size: int) -> Iterable[list]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


def apps_with_traffic_since(since: datetime) -> list[uuid.UUID]:
    """The apps whose per-minute counters have a row at or after `since`."""
    recent = select(EventCount.app_id).where(
        EventCount.app_id == App.id, EventCount.minute >= floor_minute(since)
    )
    return list(db.session.scalars(select(App.id).where(recent.exists()).order_by(App.id)))


def floor_minute(moment: datetime) -> datetime:
    return as_utc(moment).replace(second=0, microsecond=0)
