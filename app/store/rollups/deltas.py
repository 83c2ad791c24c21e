"""Move rollups by the difference a verdict change makes, instead of recomputing whole
hours: re-validation changes a few events of hours that may hold a hundred thousand.

`VerdictChanges` collects, for each changed event, -1 for its old verdict and +1 for its
new one; `apply` adds them to the per-minute counters, hourly and daily rollups and error
group hours in the caller's transaction (which holds the app's "rollup" lock), then
refreshes the touched groups' totals.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

from sqlalchemy import case, delete, func, text, update

from app.extensions import db
from app.models import DailyRollup, ErrorGroupHour, EventCount, HourlyRollup
from app.store.rollups.compute import (
    MAX_KEYWORD_CHARS,
    MAX_PATH_CHARS,
    GroupKey,
    as_utc,
    dialect_insert,
    floor_day,
    floor_hour,
    floor_minute,
    refresh_groups,
)


class VerdictChanges:
    """The differences a batch of verdict changes makes to one event name's rollups."""

    def __init__(self, app_id: uuid.UUID, event_name: str) -> None:
        self.app_id, self.event_name = app_id, event_name
        self.minutes: Counter = Counter()
        self.groups: Counter = Counter()
        # (hour, key) -> (first_seen, last_seen, example) of the events added to it
        self.added: dict[tuple, tuple] = {}

    def change(self, event_id, received_at: datetime, old: tuple, new: tuple) -> None:
        """Record one event going from old (status, errors, version) to new."""
        received_at = as_utc(received_at)
        minute, hour = floor_minute(received_at), floor_hour(received_at)
        self.minutes[(minute, old[0])] -= 1
        self.minutes[(minute, new[0])] += 1
        for key in self._keys(*old):
            self.groups[(hour, key)] -= 1
        for key in self._keys(*new):
            self.groups[(hour, key)] += 1
            first, last, example = self.added.get((hour, key), (received_at, received_at, event_id))
            if received_at >= last:
                last, example = received_at, event_id
            self.added[(hour, key)] = (min(first, received_at), last, example)

    def _keys(self, status: str, errors: list, version: int | None) -> set[GroupKey]:
        if status != "invalid":
            return set()
        return {
            GroupKey(
                self.event_name,
                version or 0,
                str(error.get("path", ""))[:MAX_PATH_CHARS],
                str(error.get("keyword", ""))[:MAX_KEYWORD_CHARS],
            )
            for error in errors or ()
            if isinstance(error, dict)
        }

    def apply(self) -> None:
        """Write every difference; counters and rollups still equal the rows afterwards."""
        _add_counts(EventCount, EventCount.minute, self._sum(lambda minute: minute))
        _add_counts(HourlyRollup, HourlyRollup.hour, self._sum(floor_hour))
        _add_counts(DailyRollup, DailyRollup.day, self._sum(floor_day))
        self._apply_groups()
        refresh_groups(self.app_id, {key for (_hour, key), n in self.groups.items() if n})

    def _sum(self, bucket) -> dict[tuple, int]:
        sums: Counter = Counter()
        for (minute, status), n in self.minutes.items():
            sums[(bucket(minute), status)] += n
        # The storage path's lock order: (app, bucket, name, status).
        return {
            (self.app_id, at, self.event_name, status): n
            for (at, status), n in sorted(sums.items())
            if n
        }

    def _apply_groups(self) -> None:
        table = ErrorGroupHour.__table__
        insert = dialect_insert()
        postgres = db.session.get_bind().dialect.name == "postgresql"
        earliest, latest = (func.least, func.greatest) if postgres else (func.min, func.max)
        for (hour, key), n in sorted(
            self.groups.items(), key=lambda kv: (kv[0][0], _order(kv[0][1]))
        ):
            where = (
                table.c.app_id == self.app_id,
                table.c.hour == hour,
                table.c.event_name == key.event_name,
                table.c.schema_version == key.schema_version,
                table.c.path == key.path,
                table.c.keyword == key.keyword,
            )
            if n < 0:
                db.session.execute(update(table).where(*where).values(count=table.c.count + n))
                db.session.execute(delete(table).where(*where, table.c.count <= 0))
                continue
            if n == 0:
                continue
            first, last, example = self.added[(hour, key)]
            statement = insert(table).values(
                app_id=self.app_id,
                hour=hour,
                event_name=key.event_name,
                schema_version=key.schema_version,
                path=key.path,
                keyword=key.keyword,
                count=n,
                first_seen=first,
                last_seen=last,
                example_event_id=example,
            )
            excluded = statement.excluded
            db.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[
                        "app_id",
                        "hour",
                        "event_name",
                        "schema_version",
                        "path",
                        "keyword",
                    ],
                    set_={
                        "count": table.c.count + excluded["count"],
                        "first_seen": earliest(table.c.first_seen, excluded.first_seen),
                        "example_event_id": case(
                            (excluded.last_seen >= table.c.last_seen, excluded.example_event_id),
                            else_=table.c.example_event_id,
                        ),
                        "last_seen": latest(table.c.last_seen, excluded.last_seen),
                    },
                )
            )


# One statement per table on PostgreSQL, the storage path's counter upsert (per-row
# statements cost ~5,000 round trips per 1,000 re-validated events).
_ADD_COUNTS = """
INSERT INTO {table} (app_id, {bucket}, event_name, status, count)
SELECT * FROM unnest(CAST(:apps AS uuid[]), CAST(:buckets AS timestamptz[]),
                     CAST(:names AS text[]), CAST(:statuses AS text[]), CAST(:counts AS int[]))
ON CONFLICT (app_id, {bucket}, event_name, status)
DO UPDATE SET count = {table}.count + excluded.count
"""
_DROP_ZEROS = """
DELETE FROM {table} WHERE app_id = CAST(:app AS uuid) AND event_name = :name
AND {bucket} = ANY(CAST(:buckets AS timestamptz[])) AND count <= 0
"""


def _add_counts(model, bucket_column, deltas: dict[tuple, int]) -> None:
    """Add signed deltas to (app_id, bucket, event_name, status) counters; drop the zeros."""
    if not deltas:
        return
    table = model.__table__
    bucket = bucket_column.key
    if db.session.get_bind().dialect.name == "postgresql":
        keys = list(deltas)
        db.session.execute(
            text(_ADD_COUNTS.format(table=table.name, bucket=bucket)),
            {
                "apps": [str(key[0]) for key in keys],
                "buckets": [key[1] for key in keys],
                "names": [key[2] for key in keys],
                "statuses": [key[3] for key in keys],
                "counts": [deltas[key] for key in keys],
            },
        )
        app_id, _at, name, _status = keys[0]
        db.session.execute(
            text(_DROP_ZEROS.format(table=table.name, bucket=bucket)),
            {"app": str(app_id), "name": name, "buckets": sorted({key[1] for key in keys})},
        )
        return
    insert = dialect_insert()
    for (app_id, at, name, status), n in deltas.items():
        values = {"app_id": app_id, bucket: at, "event_name": name, "status": status, "count": n}
        statement = insert(table).values(**values)
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["app_id", bucket, "event_name", "status"],
                set_={"count": table.c.count + statement.excluded["count"]},
            )
        )
    db.session.execute(delete(table).where(table.c.count <= 0))


def _order(key: GroupKey) -> tuple:
    return (key.event_name, key.schema_version, key.path, key.keyword)
