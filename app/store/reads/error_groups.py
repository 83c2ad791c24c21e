"""Errors grouped by event name, JSON path and keyword, over the newest invalid events.

The groups are read from at most SAMPLE_EVENTS of the newest invalid events of the range
(through the (app_id, status, id) index), so that the answer stays fast at millions of
events; the answer says how many events it read and whether the range held more.
On PostgreSQL the grouping runs in the database (jsonb_array_elements), so the errors of
thousands of events are not decoded in Python; SQLite (standalone) groups here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, select, text

from app.extensions import db
from app.models import Event
from app.store.ranges import id_floor, id_time

SAMPLE_EVENTS = 5000
EXAMPLES_PER_GROUP = 3


def top_errors(
    app_id: uuid.UUID,
    since: datetime,
    limit: int = 20,
    sample: int = SAMPLE_EVENTS,
    received: tuple[datetime, datetime | None] | None = None,
) -> dict:
    """Return the biggest error groups among the newest invalid events since a moment;
    `received` = (from, before) further keeps events received in [from, before)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return _grouped_in_postgresql(app_id, since, limit, sample, received)
    rows = db.session.execute(sample_query(app_id, since, sample + 1, received)).all()
    groups: dict[tuple[str, str, str], dict] = {}
    for event_id, event_name, errors in rows[:sample]:
        seen_in_event = set()
        for error in errors or []:
            key = (event_name, error.get("path", ""), error.get("keyword", ""))
            if key in seen_in_event:
                continue  # an event counts once per group
            seen_in_event.add(key)
            group = groups.get(key)
            if group is None:  # rows come newest first: the first one is the last seen
                group = groups[key] = {
                    "event_name": event_name,
                    "path": key[1],
                    "keyword": key[2],
                    "message": error.get("message", ""),
                    "count": 0,
                    "last_seen": id_time(event_id).isoformat(),
                    "example_ids": [],
                }
            group["count"] += 1
            if len(group["example_ids"]) < EXAMPLES_PER_GROUP:
                group["example_ids"].append(str(event_id))
    ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["event_name"], g["path"]))
    return {
        "since": since.astimezone(UTC).isoformat(),
        "events_read": min(len(rows), sample),
        "truncated": len(rows) > sample,
        "groups": ranked[:limit],
    }


def sample_query(
    app_id: uuid.UUID,
    since: datetime,
    limit: int,
    received: tuple[datetime, datetime | None] | None = None,
) -> Select:
    """Build the query of the newest invalid events since a moment (a test EXPLAINs it)."""
    query = select(Event.id, Event.event_name, Event.errors).where(
        Event.app_id == app_id, Event.status == "invalid", Event.id >= id_floor(since)
    )
    if received is not None:
        query = query.where(Event.received_at >= received[0])
        if received[1] is not None:
            query = query.where(Event.received_at < received[1])
    return query.order_by(Event.id.desc()).limit(limit)


_GROUPED = text(
    """
WITH newest AS (
    SELECT id, event_name, errors FROM events
    WHERE app_id = CAST(:app_id AS uuid) AND status = 'invalid'
      AND id >= CAST(:id_floor AS uuid)
      AND received_at >= CAST(:received_from AS timestamptz)
      AND received_at < CAST(:received_before AS timestamptz)
    ORDER BY id DESC LIMIT :sample_plus_one
), kept AS (
    SELECT * FROM newest ORDER BY id DESC LIMIT :sample
)
SELECT kept.event_name,
       coalesce(error ->> 'path', '') AS path,
       coalesce(error ->> 'keyword', '') AS keyword,
       (array_agg(error ->> 'message' ORDER BY kept.id DESC))[1] AS message,
       count(DISTINCT kept.id) AS events,
       (array_agg(DISTINCT kept.id::text ORDER BY kept.id::text DESC))[1:3] AS example_ids,
       (SELECT count(*) FROM newest) AS read
FROM kept CROSS JOIN LATERAL jsonb_array_elements(kept.errors) AS error
GROUP BY 1, 2, 3
ORDER BY events DESC, 1, 2
LIMIT :groups
"""
)


def _grouped_in_postgresql(
    app_id: uuid.UUID,
    since: datetime,
    limit: int,
    sample: int,
    received: tuple[datetime, datetime | None] | None,
) -> dict:
    received_from, received_before = received or (None, None)
    rows = db.session.execute(
        _GROUPED,
        {
            "app_id": str(app_id),
            "id_floor": str(id_floor(since)),
            "received_from": received_from.isoformat() if received_from else "-infinity",
            "received_before": received_before.isoformat() if received_before else "infinity",
            "sample_plus_one": sample + 1,
            "sample": sample,
            "groups": limit,
        },
    ).all()
    read = rows[0].read if rows else 0
    return {
        "since": since.astimezone(UTC).isoformat(),
        "events_read": min(read, sample),
        "truncated": read > sample,
        "groups": [
            {
                "event_name": row.event_name,
                "path": row.path,
                "keyword": row.keyword,
                "message": row.message or "",
                "count": row.events,
                # examples come newest first: the first one is the last seen
                "last_seen": id_time(uuid.UUID(row.example_ids[0])).isoformat(),
                "example_ids": [str(example) for example in row.example_ids],
            }
            for row in rows
        ],
    }
