"""Day partitions of `events` on PostgreSQL, ranged by the time-ordered event id.

`events` is `PARTITION BY RANGE (id)`. An id is a UUIDv7 made at ingest: its first 48
bits are the Unix time in milliseconds, and PostgreSQL orders uuids bytewise, so the day
starting at 00:00 UTC holds the ids from `day_bound(day)` (that millisecond, every other
bit zero) up to `day_bound(next day)`. Keying by id keeps `PRIMARY KEY (id)` valid and
lets reads by id (detail, `after`/`before` cursors) touch one partition.

`events_default` catches every id outside the day partitions (an id that is not a
UUIDv7, or one from a day not created yet), so storing never fails for want of a
partition. A day partition created later takes its rows out of the default in the
same transaction. Rows left in the default are removed by the per-app batched delete.

Dropping a day partition takes its rows out of `event_counts` in the same transaction,
counted from the rows themselves, so counters equal rows even for an event received at
23:59:59.999 whose id was made a millisecond after midnight.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text

from app.extensions import db
from app.store.locks import lock_for_transaction

DEFAULT_PARTITION = "events_default"
DAYS_AHEAD = 7
# Creating or dropping a partition waits this long for the readers and writers of
# `events`; a run that times out fails, is logged, and the next hourly run tries again.
LOCK_TIMEOUT = "3s"
_DAY_NAME = re.compile(r"^events_p(\d{8})$")

_PARTITIONS = text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = 'events'::regclass ORDER BY c.relname"
)
# Counted from the partition's rows, not assumed from its range (see the docstring).
_UNCOUNT = """
UPDATE event_counts c SET count = c.count - g.n
FROM (
    SELECT app_id, date_trunc('minute', received_at, 'UTC') AS minute, event_name, status,
           count(*) AS n
    FROM {name} GROUP BY 1, 2, 3, 4
) g
WHERE c.app_id = g.app_id AND c.minute = g.minute AND c.event_name = g.event_name
  AND c.status = g.status
RETURNING c.app_id, c.minute, c.event_name, c.status, c.count
"""
_DELETE_EMPTY_COUNTERS = text(
    "DELETE FROM event_counts WHERE count <= 0 AND (app_id, minute, event_name, status) IN "
    "(SELECT * FROM unnest(CAST(:apps AS uuid[]), CAST(:minutes AS timestamptz[]), "
    "CAST(:names AS text[]), CAST(:statuses AS text[])))"
)


def day_bound(day: date) -> uuid.UUID:
    """The smallest UUIDv7-ordered id of `day` (00:00 UTC): its millisecond, rest zero."""
    milliseconds = int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)
    return uuid.UUID(int=milliseconds << 80)


def id_time(event_id: uuid.UUID) -> datetime:
    """The moment a UUIDv7 id carries (meaningless for other versions)."""
    return datetime.fromtimestamp((event_id.int >> 80) / 1000, tz=UTC)


def partition_name(day: date) -> str:
    return f"events_p{day:%Y%m%d}"


def is_partitioned() -> bool:
    """Whether `events` is partitioned here (PostgreSQL after migration 0005)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return False
    return bool(
        db.session.scalar(text("SELECT relkind = 'p' FROM pg_class WHERE oid = 'events'::regclass"))
    )


def partitions() -> list[str]:
    """Names of every partition of `events`, sorted."""
    return list(db.session.scalars(_PARTITIONS))


def day_partitions() -> list[date]:
    """Days that have a partition of their own, oldest first."""
    days = []
    for name in partitions():
        found = _DAY_NAME.match(name)
        if found:
            days.append(datetime.strptime(found.group(1), "%Y%m%d").date())
    return days


def create_partitions(today: date, days_ahead: int = DAYS_AHEAD) -> list[str]:
    """Create the missing day partitions from `today` to `days_ahead` days later, in one
    transaction under the partitions lock; return the names created (none on a rerun)."""
    wanted = [today + timedelta(days=n) for n in range(days_ahead + 1)]
    created = []
    try:
        _begin_maintenance()
        present = set(day_partitions())
        for day in wanted:
            if day not in present:
                _create_day(day)
                created.append(partition_name(day))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return created


def _create_day(day: date) -> None:
    """Create the day's table, move its rows out of the default partition, attach it."""
    name, low, high = partition_name(day), day_bound(day), day_bound(day + timedelta(days=1))
    bounds = {"low": str(low), "high": str(high)}
    db.session.execute(
        text(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    db.session.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE id >= CAST(:low AS uuid) "
            "AND id < CAST(:high AS uuid) "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        bounds,
    )
    db.session.execute(
        text(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')")
    )


def drop_expired_partitions(now: datetime, keep_days: int) -> list[str]:
    """Drop every day partition whose whole day ended more than `keep_days` before `now`,
    each with its rows' counters in its own transaction; return the names dropped."""
    cutoff = now - timedelta(days=keep_days)
    dropped = []
    for day in day_partitions():
        if datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) > cutoff:
            break
        if _drop_day(day):
            dropped.append(partition_name(day))
    return dropped


def _drop_day(day: date) -> bool:
    name = partition_name(day)
    try:
        _begin_maintenance()
        if day not in day_partitions():  # a concurrent run dropped it while we waited
            db.session.rollback()
            return False
        uncounted = db.session.execute(text(_UNCOUNT.format(name=name))).all()
        emptied = [row for row in uncounted if row[4] <= 0]
        if emptied:
            apps, minutes, names, statuses, _ = zip(*emptied, strict=True)
            db.session.execute(
                _DELETE_EMPTY_COUNTERS,
                {
                    "apps": [str(app_id) for app_id in apps],
                    "minutes": list(minutes),
                    "names": list(names),
                    "statuses": list(statuses),
                },
            )
        db.session.execute(text(f"DROP TABLE {name}"))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return True


def _begin_maintenance() -> None:
    """One partition maintainer at a time; give up rather than queue writers for long."""
    lock_for_transaction("event-partitions")
    db.session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
