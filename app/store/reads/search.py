"""Read stored events for the test API: one event by any of its ids, and filtered search.

An event is found by our id, or by the client's id (`eventId`, or Segment's `messageId`
mapped onto the same column), within one app and, when asked, one test run. Search
reuses the stream's query (`reads.events.stream_query`: one app, newest first, an index
that ends with id) and adds the test API's filters; pages are keyed by id.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import ColumnElement, String, cast, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB

from app.extensions import db
from app.models import Event, EventClientId
from app.models.events import STATUSES
from app.store.ranges import id_floor
from app.store.reads.events import DEFAULT_LIMIT, MAX_LIMIT, BadFilter, StreamFilter, stream_query

FILTER_KEYS = frozenset(
    {"event_name", "type", "status", "since", "until", "field", "equals", "test_run"}
    | {"cursor", "limit"}
)
MAX_PATH_SEGMENTS = 16
MAX_TEXT = 200
# A payload filter with neither a test run nor `since` reads at most the last day: it
# cannot use an index, and must not walk an app's whole history.
PAYLOAD_SEARCH_DEFAULT = timedelta(hours=24)
# A batch's events share the received time taken before their ids were made, and a batch
# takes far less than this to validate: ids made before `until` plus this are enough.
ID_AFTER_RECEIPT = timedelta(minutes=1)


@dataclass(frozen=True)
class SearchFilter:
    event_name: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    test_run: str | None = None
    # (JSON path segments, value): payload fields that must equal a JSON value.
    equals: tuple[tuple[tuple[str, ...], object], ...] = field(default_factory=tuple)
    cursor: uuid.UUID | None = None  # only events older than this id (the next page)
    limit: int = DEFAULT_LIMIT


def parse_search(body: object, now: datetime | None = None) -> SearchFilter:
    """Build a SearchFilter from a JSON body; raise BadFilter with the reason."""
    if not isinstance(body, dict):
        raise BadFilter("the body must be a JSON object of filters")
    unknown = sorted(set(body) - FILTER_KEYS)
    if unknown:
        raise BadFilter(f"unknown filter {unknown[0]!r}; use {', '.join(sorted(FILTER_KEYS))}")
    status = _text(body, "status")
    if status is not None and status not in STATUSES:
        raise BadFilter(f"status must be one of {', '.join(STATUSES)}")
    equals = []
    if "type" in body:
        equals.append((("type",), _text(body, "type")))
    if ("field" in body) != ("equals" in body):
        raise BadFilter('"field" and "equals" go together: {"field": "a.b", "equals": value}')
    if "field" in body:
        equals.append((_path(body["field"]), body["equals"]))
    since, until = _moment(body, "since"), _moment(body, "until")
    if since and until and since >= until:
        raise BadFilter("since must be before until")
    test_run = _text(body, "test_run")
    if equals and since is None and test_run is None:
        since = (now or datetime.now(UTC)) - PAYLOAD_SEARCH_DEFAULT
    return SearchFilter(
        event_name=_text(body, "event_name"),
        status=status,
        since=since,
        until=until,
        test_run=test_run,
        equals=tuple(equals),
        cursor=_cursor(body.get("cursor")),
        limit=_limit(body.get("limit", DEFAULT_LIMIT)),
    )


def search(app_id: uuid.UUID, wanted: SearchFilter) -> tuple[list[Event], uuid.UUID | None]:
    """Return the app's newest events matching the filter and the next page's cursor."""
    rows = list(db.session.scalars(search_query(app_id, wanted)))
    if len(rows) <= wanted.limit:
        return rows, None
    rows = rows[: wanted.limit]
    return rows, rows[-1].id


def search_query(app_id: uuid.UUID, wanted: SearchFilter):
    """The search's query: the stream's, with the test API's filters (one row extra)."""
    base = StreamFilter(
        status=wanted.status,
        event_name=wanted.event_name,
        before=wanted.cursor,
        since=wanted.since,
        limit=wanted.limit + 1,
        test_runs=True,
    )
    query = stream_query(app_id, base)
    if wanted.since:
        query = query.where(Event.received_at >= wanted.since)
    if wanted.until:
        query = query.where(
            Event.received_at < wanted.until,
            Event.id < id_floor(wanted.until + ID_AFTER_RECEIPT),
        )
    if wanted.test_run is not None:
        query = query.where(Event.test_run == wanted.test_run)
    for path, value in wanted.equals:
        query = query.where(_field_equals(path, value))
    return query


def find_stored(app_id: uuid.UUID, wanted: str, test_run: str | None = None) -> Event | None:
    """Return the app's event whose id, or client id (eventId / messageId), is `wanted`.

    A client id may look like a UUID too (SDKs make messageIds so): our id is tried first.
    With `test_run`, an event of another run (or of none) is not found.
    """
    found = None
    with contextlib.suppress(ValueError):  # not a UUID: a client id only
        found = db.session.get(Event, uuid.UUID(wanted))
    if found is None or found.app_id != app_id:
        found = _by_client_id(app_id, wanted)
    if found is None or (test_run is not None and found.test_run != test_run):
        return None
    return found


def _by_client_id(app_id: uuid.UUID, client_id: str) -> Event | None:
    if not client_id or len(client_id) > 128:
        return None
    if db.session.get_bind().dialect.name == "postgresql":
        # `events` is partitioned by id: the claim table holds the unique client ids.
        event_id = db.session.scalar(
            select(EventClientId.event_id).where(
                EventClientId.app_id == app_id, EventClientId.client_event_id == client_id
            )
        )
        found = db.session.get(Event, event_id) if event_id else None
        return found if found is not None and found.app_id == app_id else None
    return db.session.scalar(
        select(Event).where(Event.app_id == app_id, Event.client_event_id == client_id)
    )


def _field_equals(path: tuple[str, ...], value: object) -> ColumnElement[bool]:
    document = orjson.dumps(value).decode()
    if db.session.get_bind().dialect.name == "postgresql":
        # The value goes as JSON text cast to jsonb (a JSONB-typed bind would encode it twice).
        return func.jsonb_extract_path(Event.payload, *path) == cast(
            literal(document, String), JSONB
        )
    # SQLite 3.38+: `->` answers the JSON text of the value, compared with the minified one.
    json_path = "$" + "".join(f'."{segment}"' for segment in path)
    return Event.payload.op("->")(json_path) == func.json(document)


def _path(value: object) -> tuple[str, ...]:
    if not isinstance(value, str) or not value:
        raise BadFilter('"field" must be a JSON path by dots, e.g. "properties.plan"')
    segments = tuple(value.split("."))
    if len(segments) > MAX_PATH_SEGMENTS or any(
        not s or len(s) > MAX_TEXT or '"' in s or "\\" in s for s in segments
    ):
        raise BadFilter(
            f'"field" must have 1 to {MAX_PATH_SEGMENTS} non-empty names between dots, '
            "without quotes or backslashes"
        )
    return segments


def _text(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise BadFilter(f'"{name}" must be a string of 1 to {MAX_TEXT} characters')
    return value


def _moment(body: dict, name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise BadFilter(f'"{name}" must be an RFC 3339 date-time') from None
    if moment.tzinfo is None:
        raise BadFilter(f'"{name}" must have a time zone (e.g. Z or +02:00)')
    return moment.astimezone(UTC)


def _cursor(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return uuid.UUID(value)
    except ValueError:
        pass
    raise BadFilter('"cursor" must be the next_cursor of the previous page')


def _limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise BadFilter(f'"limit" must be an integer between 1 and {MAX_LIMIT}')
    return value
