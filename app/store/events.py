"""Write records to the events table exactly once, and keep the counters equal to it.

On PostgreSQL `events` is partitioned by day (store/partitions.py), and a client's
`eventId` is made unique per app by `event_client_ids`, written in the same transaction
(a unique index on a partitioned table must include the partition key, the event id).
The records are streamed with COPY straight into `event_client_ids` (those with an
eventId) and `events`, and the counters are upserted in the same transaction. A batch
holding any record stored before (a redelivered message, a client's retry) makes a COPY
fail as a whole; it is then rolled back and the batch goes the careful way: COPY into a
temporary table, one statement that claims the new eventIds (`ON CONFLICT DO NOTHING`)
and inserts the events whose eventId was claimed or that have none, and counters from
the rows it really inserted. The direct COPY costs PostgreSQL about a third less per
row, and duplicates are rare. Both paths write `event_client_ids` before `events`, so
two writers of the same record lock in the same order. SQLite (standalone) uses
multi-row inserts and a unique index on `events`.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
from blinker import signal
from psycopg2.errors import UniqueViolation
from sqlalchemy.dialects import sqlite

from app.extensions import db
from app.models import Event, EventCount
from app.store.revision import ensure_code_matches_database

CHUNK_ROWS = 500
COPY_COLUMNS = (
    "id",
    "client_event_id",
    "app_id",
    "event_name",
    "payload",
    "payload_hash",
    "status",
    "errors",
    "schema_version",
    "client_ts",
    "received_at",
    "test_run",
)
_COLUMN_LIST = ", ".join(COPY_COLUMNS)
# Same column types as events, no constraints: checks happen when rows move to events.
_CREATE_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS incoming_events ON COMMIT DELETE ROWS AS "
    f"SELECT {_COLUMN_LIST} FROM events WITH NO DATA"
)
# COPY's text format: tab-separated, \N for NULL, backslash escapes (_copy_text).
_NULL = "\\N"
_COPY = f"COPY incoming_events ({_COLUMN_LIST}) FROM STDIN"
_COPY_DIRECT = f"COPY events ({_COLUMN_LIST}, stored_at) FROM STDIN"
_COPY_CLIENT_IDS = (
    "COPY event_client_ids (app_id, client_event_id, event_id, received_at) FROM STDIN"
)
# A batch may carry the same eventId twice: the smallest id claims it.
_MOVE = f"""
WITH claimed AS (
    INSERT INTO event_client_ids (app_id, client_event_id, event_id, received_at)
    SELECT DISTINCT ON (app_id, client_event_id) app_id, client_event_id, id, received_at
    FROM incoming_events WHERE client_event_id IS NOT NULL
    ORDER BY app_id, client_event_id, id
    ON CONFLICT DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO events ({_COLUMN_LIST}, stored_at)
    SELECT {_COLUMN_LIST}, now() FROM incoming_events
    WHERE client_event_id IS NULL OR id IN (SELECT event_id FROM claimed)
    ON CONFLICT DO NOTHING
    RETURNING app_id, received_at, event_name, status
)
SELECT app_id, date_trunc('minute', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       event_name, status, count(*)
FROM inserted
GROUP BY 1, 2, 3, 4
"""
# Last statement before COMMIT: concurrent batches queue on the same counter rows, so
# the rows stay locked only for this statement and the commit. Rows come in _sort_key
# order, which prevents deadlocks between them.
_COUNT = """
INSERT INTO event_counts (app_id, minute, event_name, status, count)
SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::text[], %s::text[], %s::int[])
ON CONFLICT (app_id, minute, event_name, status)
DO UPDATE SET count = event_counts.count + excluded.count
"""


# Sent with the number of events each committed write inserted (worker/metrics.py counts them).
events_written = signal("lvd-events-written")


class AlreadyStored(Exception):
    """A record of the batch was stored before; nothing of the batch was written."""


def store_all_new(records: list[dict]) -> None:
    """Store records none of which is stored yet, in one transaction, or raise AlreadyStored."""
    ensure_code_matches_database()
    dialect = db.session.get_bind().dialect.name
    try:
        if dialect == "postgresql":
            _copy_direct(records)
        elif dialect == "sqlite":
            _insert_rows(records, all_new=True)
        else:
            raise RuntimeError(f"unsupported database dialect {dialect!r}")
    except UniqueViolation as exc:
        raise AlreadyStored(str(exc)) from exc
    events_written.send(len(records))


def store_events(records: list[dict]) -> int:
    """Insert the records not stored yet, in one transaction; return how many were new.

    Idempotent: a record's server id, and a client `eventId` within an app, are unique,
    so a redelivered message or a client retry inserts nothing and counts nothing.
    Raise RevisionMismatch while the database is not at this code's migration revision.
    """
    ensure_code_matches_database()
    stored = _store_new_ones(records)
    events_written.send(stored)
    return stored


def _store_new_ones(records: list[dict]) -> int:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        try:
            return _copy_direct(records)
        except UniqueViolation:
            return _copy_and_move(records)
    if dialect == "sqlite":
        return _insert_rows(records)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def _insert_rows(records: list[dict], all_new: bool = False) -> int:
    rows = [_row(record) for record in records]
    try:
        inserted: set[uuid.UUID] = set()
        for chunk in _chunks(rows, CHUNK_ROWS):
            statement = (
                sqlite.insert(Event.__table__)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning(Event.__table__.c.id)
            )
            inserted.update(db.session.scalars(statement))
        if all_new and len(inserted) < len(rows):
            raise AlreadyStored(f"{len(rows) - len(inserted)} record(s) stored before")
        _count(row for row in rows if row["id"] in inserted)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return len(inserted)


def _copy_direct(records: list[dict]) -> int:
    """COPY every record into events; raise UniqueViolation if any was stored before."""
    connection = db.session.connection()
    try:
        with connection.connection.dbapi_connection.cursor() as cursor:
            claims = _client_id_text(records)
            if claims is not None:
                cursor.copy_expert(_COPY_CLIENT_IDS, claims)
            cursor.copy_expert(_COPY_DIRECT, _copy_text(records, stored_at=datetime.now(UTC)))
            counts = _minute_counts(records)
            cursor.execute(_COUNT, [list(column) for column in zip(*counts, strict=True)])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return len(records)


def _minute_counts(records: list[dict]) -> list[tuple]:
    """(app_id, minute, event_name, status, count) of JSON records, in lock order."""
    return _tally(
        (
            record["app_id"],
            datetime.fromisoformat(record["received_at"]),
            record["event_name"],
            record["status"],
        )
        for record in records
    )


def _tally(events: Iterator[tuple]) -> list[tuple]:
    """Count (app_id, received_at, event_name, status) per minute, in _sort_key order."""
    counts = Counter(
        (app_id, received_at.replace(second=0, microsecond=0), name, status)
        for app_id, received_at, name, status in events
    )
    return [(*key, n) for key, n in sorted(counts.items(), key=lambda kv: _sort_key(kv[0]))]


def _copy_and_move(records: list[dict]) -> int:
    connection = db.session.connection()
    try:
        with connection.connection.dbapi_connection.cursor() as cursor:
            if not connection.info.get("incoming_events"):
                cursor.execute(_CREATE_STAGING)
                connection.info["incoming_events"] = True
            cursor.copy_expert(_COPY, _copy_text(records))
            cursor.execute(_MOVE)
            counts = sorted(cursor.fetchall(), key=_sort_key)  # the direct path's lock order
            if counts:
                cursor.execute(_COUNT, [list(column) for column in zip(*counts, strict=True)])
        db.session.commit()
    except BaseException:
        connection.info.pop("incoming_events", None)  # it may have been rolled back with us
        db.session.rollback()
        raise
    return sum(row[4] for row in counts)


def _copy_text(records: list[dict], stored_at: datetime | None = None) -> io.StringIO:
    """The records in COPY's text format, COPY_COLUMNS order, plus stored_at when given.

    About five times faster to build than csv.writer's quoted fields. JSON from orjson
    holds no raw tab or line break, so only its backslashes need doubling; text from
    clients (event name, eventId) is fully escaped.
    """
    extra = "" if stored_at is None else "\t" + stored_at.isoformat()
    dumps = orjson.dumps
    lines = [
        "\t".join(
            (
                record["id"],
                _text_or_null(record.get("client_event_id")),
                record["app_id"],
                _escape(record["event_name"]),
                dumps(record["payload"]).decode().replace("\\", "\\\\"),
                record["payload_hash"],
                record["status"],
                dumps(record["errors"]).decode().replace("\\", "\\\\"),
                _NULL if record.get("schema_version") is None else str(record["schema_version"]),
                _text_or_null(record.get("client_ts")),
                record["received_at"],
                # Records queued before test runs existed carry no "test_run".
                _text_or_null(record.get("test_run")),
            )
        )
        + extra
        for record in records
    ]
    lines.append("")
    return io.StringIO("\n".join(lines))


def _client_id_text(records: list[dict]) -> io.StringIO | None:
    """The records' eventId claims in COPY's text format; None when no record has one."""
    lines = [
        "\t".join(
            (
                record["app_id"],
                _escape(record["client_event_id"]),
                record["id"],
                record["received_at"],
            )
        )
        for record in records
        if record.get("client_event_id")
    ]
    if not lines:
        return None
    lines.append("")
    return io.StringIO("\n".join(lines))


def _escape(text: str) -> str:
    """A text value for COPY's text format: backslash, tab and line breaks escaped."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _text_or_null(text: str | None) -> str:
    """NULL for a missing (or empty) optional text, as the CSV form's FORCE_NULL did."""
    return _escape(text) if text else _NULL


def _count(rows: Iterator[dict]) -> None:
    counts = _tally(
        (row["app_id"], row["received_at"], row["event_name"], row["status"]) for row in rows
    )
    if not counts:
        return
    values = [
        {"app_id": app_id, "minute": minute, "event_name": name, "status": status, "count": n}
        for app_id, minute, name, status, n in counts
    ]
    table = EventCount.__table__
    statement = sqlite.insert(table).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["app_id", "minute", "event_name", "status"],
        set_={"count": table.c.count + statement.excluded["count"]},
    )
    db.session.execute(statement)


def _sort_key(key: tuple) -> tuple:
    """One lock order for every writer of the counters, so none deadlocks another."""
    app_id, minute, name, status = key[:4]
    return (str(app_id), minute, name, status)


def _row(record: dict) -> dict:
    return {
        "id": uuid.UUID(record["id"]),
        "client_event_id": record.get("client_event_id"),
        "app_id": uuid.UUID(record["app_id"]),
        "event_name": record["event_name"],
        "payload": record["payload"],
        "payload_hash": record["payload_hash"],
        "status": record["status"],
        "errors": record["errors"],
        "schema_version": record.get("schema_version"),
        "client_ts": _moment(record.get("client_ts")),
        "received_at": _moment(record["received_at"]),
        "test_run": record.get("test_run"),
    }


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _chunks(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
