"""Read stored events for the dashboard: the stream with its cursor and filters, one event.

Every query names one app and walks an index that starts with app_id and ends with id
(migration 0003), newest first, so that it stops after `limit` rows whatever the table
holds. Time bounds are turned into id bounds (`ranges.id_floor`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, String, cast, select

from app.extensions import db
from app.models import Event
from app.models.events import STATUSES
from app.models.types import rfc3339
from app.store.ranges import id_floor

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# A text search reads every payload it passes: without a range it looks back this far.
SEARCH_WINDOW = timedelta(hours=24)


class BadFilter(ValueError):
    """A stream filter that cannot be applied, with a message meant for the caller."""


@dataclass(frozen=True)
class StreamFilter:
    status: str | None = None
    event_name: str | None = None
    search: str | None = None  # text searched for in the payload
    after: uuid.UUID | None = None  # only events newer than this id (live cursor)
    before: uuid.UUID | None = None  # only events older than this id (next page)
    since: datetime | None = None
    limit: int = DEFAULT_LIMIT
    test_runs: bool = False  # also events sent in CI test runs (hidden by default)


def parse_filter(args: dict, since: datetime | None = None) -> StreamFilter:
    """Build a StreamFilter from query-string arguments; raise BadFilter with the reason."""
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadFilter(f"status must be one of {', '.join(STATUSES)}")
    try:
        limit = int(args.get("limit") or DEFAULT_LIMIT)
    except ValueError:
        raise BadFilter("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadFilter(f"limit must be between 1 and {MAX_LIMIT}")
    search = (args.get("q") or "").strip() or None
    if search is not None and len(search) > 200:
        raise BadFilter("q must have at most 200 characters")
    return StreamFilter(
        status=status,
        event_name=args.get("event") or None,
        search=search,
        after=_event_id(args.get("after"), "after"),
        before=_event_id(args.get("before"), "before"),
        since=since,
        limit=limit,
        test_runs=(args.get("test_runs") or "").lower() in ("1", "true", "on"),
    )


def stream(app_id: uuid.UUID, wanted: StreamFilter) -> list[Event]:
    """Return the app's newest events matching the filter, newest first."""
    return list(db.session.scalars(stream_query(app_id, wanted)))


def stream_query(app_id: uuid.UUID, wanted: StreamFilter) -> Select:
    """Build the stream's query (separate, so a test can EXPLAIN it)."""
    query = select(Event).where(Event.app_id == app_id)
    if not wanted.test_runs:
        query = query.where(Event.test_run.is_(None))
    if wanted.status:
        query = query.where(Event.status == wanted.status)
    if wanted.event_name:
        query = query.where(Event.event_name == wanted.event_name)
    if wanted.after:
        query = query.where(Event.id > wanted.after)
    if wanted.before:
        query = query.where(Event.id < wanted.before)
    since = wanted.since
    if wanted.search and since is None:
        since = datetime.now(UTC) - SEARCH_WINDOW
    if since:
        query = query.where(Event.id >= id_floor(since))
    if wanted.search:
        query = query.where(cast(Event.payload, String).ilike(_contains(wanted.search), "\\"))
    return query.order_by(Event.id.desc()).limit(wanted.limit)


def find_event(app_id: uuid.UUID, event_id: uuid.UUID | str) -> Event | None:
    """Return one event of the app (None for another app's event or an unknown id)."""
    try:
        wanted = event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(event_id)
    except ValueError:
        return None
    found = db.session.get(Event, wanted)
    return found if found is not None and found.app_id == app_id else None


def as_row(event: Event) -> dict:
    """Return what a stream row shows: time, name, status, the first error, ids."""
    errors = event.errors or []
    return {
        "id": str(event.id),
        "event_name": event.event_name,
        "status": event.status,
        "received_at": rfc3339(event.received_at),
        "first_error": errors[0] if errors else None,
        "error_count": len(errors),
        "client_event_id": event.client_event_id,
        "test_run": event.test_run,
    }


def as_detail(event: Event) -> dict:
    """Return everything stored about one event."""
    return {
        **as_row(event),
        "payload": event.payload,
        "errors": event.errors or [],
        "schema_version": event.schema_version,
        "client_ts": rfc3339(event.client_ts),
        "stored_at": rfc3339(event.stored_at),
    }


def _event_id(value: str | None, name: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadFilter(f"{name} must be an event id (a UUID)") from None


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
