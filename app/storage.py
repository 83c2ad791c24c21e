"""Write records to the events table exactly once, and keep the counters equal to it."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import Event, EventCount

CHUNK_ROWS = 500


def store_events(records: list[dict]) -> int:
    """Insert the records not stored yet, in one transaction; return how many were new.

    Idempotent: a record's server id, and a client `eventId` within an app, are unique,
    so a redelivered message or a client retry inserts nothing and counts nothing.
    """
    rows = [_row(record) for record in records]
    try:
        inserted: set[uuid.UUID] = set()
        for chunk in _chunks(rows, CHUNK_ROWS):
            statement = (
                _insert(Event.__table__)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning(Event.__table__.c.id)
            )
            inserted.update(db.session.scalars(statement))
        _count(row for row in rows if row["id"] in inserted)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return len(inserted)


def _count(rows: Iterator[dict]) -> None:
    counts = Counter(
        (
            row["app_id"],
            row["received_at"].replace(second=0, microsecond=0),
            row["event_name"],
            row["status"],
        )
        for row in rows
    )
    if not counts:
        return
    # A fixed order keeps concurrent upserts from deadlocking on each other's rows.
    values = [
        {"app_id": app_id, "minute": minute, "event_name": name, "status": status, "count": n}
        for (app_id, minute, name, status), n in sorted(
            counts.items(), key=lambda kv: _sort_key(kv[0])
        )
    ]
    table = EventCount.__table__
    statement = _insert(table).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["app_id", "minute", "event_name", "status"],
        set_={"count": table.c.count + statement.excluded["count"]},
    )
    db.session.execute(statement)


def _sort_key(key: tuple) -> tuple:
    app_id, minute, name, status = key
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
    }


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _insert(table) -> Insert:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def _chunks(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
