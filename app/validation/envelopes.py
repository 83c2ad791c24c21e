"""The one verdict on an event: its envelope (name, client id, client time) read the
way its wire format writes them, then its name's schema.

Ingest answers with `check_event` and re-validation and the impact preview recompute it,
so the same payload and schema version always get the same status and errors. Two
envelopes exist: ours (`eventName`, `eventId`, `timestamp`) and Segment's (`type`,
`event`, `messageId`, `timestamp` corrected by `sentAt`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from app.validation.schemas import EventValidator, validate

MAX_EVENT_NAME = 200
MAX_EVENT_ID = 128
SEGMENT_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})

# envelope(event, errors, received_at) -> (event_name, client_event_id, client_ts)
Envelope = Callable[[dict, list, "datetime | None"], tuple[str, "str | None", "str | None"]]


@dataclass(frozen=True)
class PlannedEvent:
    """The schema version an event name is checked against, compiled."""

    version: int
    validator: EventValidator


@dataclass(frozen=True)
class EventCheck:
    """An event's verdict and the envelope fields read while reaching it."""

    event_name: str
    client_event_id: str | None
    client_ts: str | None
    schema_version: int | None
    status: str
    errors: list[dict]


def check_event(
    event: Any,
    plan: Mapping[str, PlannedEvent],
    max_errors: int = 50,
    envelope: Envelope | None = None,
    received_at: datetime | None = None,
) -> EventCheck:
    """Check an event's envelope and its name's schema.

    `envelope` is the wire format's (`ours` or `segment`); None reads a stored payload,
    whose format shows in its fields (`envelope_of`).
    """
    errors: list[dict] = []
    event_name, client_event_id, client_ts = "", None, None
    if not isinstance(event, dict):
        errors.append(_error("", "type", "an event must be a JSON object"))
    else:
        read = envelope or envelope_of(event)
        event_name, client_event_id, client_ts = read(event, errors, received_at)
    planned = plan.get(event_name) if event_name else None
    if planned is not None:
        errors.extend(validate(planned.validator, event, max_errors))
    if errors:
        status = "invalid"
    elif planned is None:
        status = "unplanned"
    else:
        status = "valid"
    version = planned.version if planned is not None else None
    return EventCheck(event_name, client_event_id, client_ts, version, status, errors[:max_errors])


def envelope_of(payload: dict) -> Envelope:
    """The envelope a stored payload was checked with: Segment's messages carry a Segment
    `type` and no `eventName`; every other payload is ours."""
    if "eventName" not in payload and payload.get("type") in SEGMENT_TYPES:
        return segment
    return ours


def ours(event: dict, errors: list[dict], _received_at: datetime | None = None) -> tuple:
    """Our envelope: `eventName`, `eventId`, `timestamp`."""
    name = _event_name(event, errors)
    return name, client_event_id_of(event, "eventId", errors), _client_timestamp(event, errors)


def _error(path: str, keyword: str, message: str) -> dict:
    return {"path": path, "keyword": keyword, "message": message}


def _event_name(event: dict, errors: list[dict]) -> str:
    name = event.get("eventName")
    if name is None:
        errors.append(_error("/eventName", "required", '"eventName" is a required property'))
        return ""
    if not isinstance(name, str) or not name:
        errors.append(_error("/eventName", "type", "'eventName' must be a non-empty string"))
        return ""
    if len(name) > MAX_EVENT_NAME:
        errors.append(
            _error("/eventName", "maxLength", f"'eventName' is longer than {MAX_EVENT_NAME}")
        )
        return name[:MAX_EVENT_NAME]
    return name


def client_event_id_of(event: dict, field_name: str, errors: list[dict]) -> str | None:
    """The client's id of the event in `field_name` (eventId, Segment's messageId): what
    makes a retried event stored once per app; a fault is added to `errors`."""
    value = event.get(field_name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(
            _error(f"/{field_name}", "type", f"'{field_name}' must be a string or an integer")
        )
        return None
    value = str(value)
    if not value or len(value) > MAX_EVENT_ID:
        message = f"'{field_name}' must have 1 to {MAX_EVENT_ID} characters"
        errors.append(_error(f"/{field_name}", "maxLength", message))
        return None
    return value


def _client_timestamp(event: dict, errors: list[dict]) -> str | None:
    value = event.get("timestamp")
    if value is None:
        return None
    try:
        return parse_client_time(value).isoformat()
    except ValueError:
        message = "'timestamp' must be an ISO 8601 date-time or epoch seconds/milliseconds"
        errors.append(_error("/timestamp", "format", message))
        return None


def parse_client_time(value: object) -> datetime:
    """A client's time (ISO 8601, or epoch seconds or milliseconds) in UTC; ValueError if
    it is none of those."""
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds or seconds
            moment = datetime.fromtimestamp(seconds, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"not a client time: {value!r}") from None
    return moment.astimezone(UTC)


# --- Segment's envelope ------------------------------------------------------------------


def segment(message: dict, errors: list[dict], received_at: datetime | None = None) -> tuple:
    """Segment's envelope: a track's `event` (other types: the type's name), `messageId`,
    and `timestamp` corrected for the device clock's skew by `sentAt`."""
    return (
        _segment_name(message, errors),
        client_event_id_of(message, "messageId", errors),
        _segment_time(message, received_at, errors),
    )


def _segment_name(message: dict, errors: list[dict]) -> str:
    kind = message.get("type")
    if kind not in SEGMENT_TYPES:
        types = ", ".join(sorted(SEGMENT_TYPES))
        errors.append(_error("/type", "enum", f"'type' must be one of {types}"))
        return ""
    _require_identity(message, kind, errors)
    if kind != "track":
        return kind
    name = message.get("event")
    if not isinstance(name, str) or not name:
        errors.append(_error("/event", "required", "a track needs a non-empty 'event' name"))
        return ""
    if len(name) > MAX_EVENT_NAME:
        errors.append(_error("/event", "maxLength", f"'event' is longer than {MAX_EVENT_NAME}"))
        return name[:MAX_EVENT_NAME]
    return name


def _require_identity(message: dict, kind: str, errors: list[dict]) -> None:
    """Segment's own rule: every call names a user (alias: both of its users)."""
    if kind == "alias":
        for name in ("userId", "previousId"):
            if message.get(name) in (None, ""):
                errors.append(_error(f"/{name}", "required", f"an alias needs '{name}'"))
    elif message.get("userId") in (None, "") and message.get("anonymousId") in (None, ""):
        errors.append(_error("", "required", "a message needs 'userId' or 'anonymousId'"))


def _segment_time(message: dict, received_at: datetime | None, errors: list[dict]) -> str | None:
    """When it happened, by our clock: the device's time shifted by its clock's skew."""
    field_name = "originalTimestamp" if "originalTimestamp" in message else "timestamp"
    original = message.get(field_name)
    if original is None:
        return None
    try:
        happened = parse_client_time(original)
    except ValueError:
        message_text = f"'{field_name}' must be an ISO 8601 date-time"
        errors.append(_error(f"/{field_name}", "format", message_text))
        return None
    sent = message.get("sentAt")
    if sent is None or received_at is None:
        return happened.isoformat()
    try:
        sent_at = _sent_at(sent) if isinstance(sent, str) else parse_client_time(sent)
    except ValueError:
        errors.append(_error("/sentAt", "format", "'sentAt' must be an ISO 8601 date-time"))
        return happened.isoformat()
    try:
        return (received_at - (sent_at - happened)).isoformat()
    except OverflowError:  # a clock centuries off: keep the device's own time
        return happened.isoformat()


@lru_cache(maxsize=64)
def _sent_at(text: str) -> datetime:
    """A batch's sentAt, parsed once for all of its messages."""
    return parse_client_time(text)
