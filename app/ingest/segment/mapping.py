"""Turn Segment messages into our storage records.

A `track` is checked against the schema of its `event` name; identify, page, screen,
group and alias against a schema named after the type, when one exists. The stored
payload is the whole message (the batch's context and integrations merged in), its
`messageId` is the client id that makes a redelivery stored once, and its client time is
corrected for the device's clock skew as Segment does:
timestamp = receivedAt - (sentAt - originalTimestamp).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from app.ingest.body import PayloadError, too_deep
from app.ingest.records import (
    MAX_EVENT_NAME,
    canonical_json,
    client_event_id_of,
    make_record,
    parse_client_time,
)
from app.ingest.registry import AppEntry

# Segment's documented limits (HTTP Tracking API): fixed by the SDKs, not a setting.
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500

TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
# What a batch lends each of its messages that lacks its own.
_SHARED = ("context", "integrations")


def batch_messages(document: object) -> tuple[list, dict]:
    """The messages of {"batch": [...], ...} and what they share (context, integrations,
    sentAt); 400 for any other shape or too many messages."""
    if not isinstance(document, dict) or not isinstance(document.get("batch"), list):
        raise PayloadError(400, "invalid_batch", 'the body must be {"batch": [...]}')
    messages = document["batch"]
    if len(messages) > MAX_BATCH_MESSAGES:
        raise PayloadError(
            400, "too_many_events", f"a batch may hold at most {MAX_BATCH_MESSAGES} events"
        )
    shared = {name: document[name] for name in (*_SHARED, "sentAt") if name in document}
    return messages, shared


def message_of(item: object, shared: dict, forced_type: str | None = None) -> dict:
    """The message as it will be stored: the batch's context and integrations merged under
    its own, the batch's sentAt when it has none, never the write key. `forced_type` is
    the type a single-message route (/v1/track, ...) gives it."""
    if not isinstance(item, dict):
        raise PayloadError(400, "invalid_event", "every event must be a JSON object")
    message = item  # parsed for this request alone: changed in place, not copied
    message.pop("writeKey", None)  # a key never lands in storage or on a page
    for name in _SHARED:
        outer = shared.get(name)
        if isinstance(outer, dict):
            inner = message.get(name)
            message[name] = {**outer, **inner} if isinstance(inner, dict) else outer
    if "sentAt" in shared and "sentAt" not in message:
        message["sentAt"] = shared["sentAt"]
    if forced_type is not None:
        message["type"] = forced_type
    return message


def segment_record(
    entry: AppEntry, message: dict, received_at: datetime, max_errors: int, max_depth: int
) -> dict:
    """Validate one message and return its storage record; 400 when it is too big or deep."""
    serialized = canonical_json(message)
    if len(serialized) > MAX_MESSAGE_BYTES:
        raise PayloadError(
            400, "event_too_large", f"an event must not exceed {MAX_MESSAGE_BYTES // 1024} KB"
        )
    if too_deep(serialized, message, max_depth):
        raise PayloadError(400, "too_deep", f"JSON nesting deeper than {max_depth} levels")
    errors: list[dict] = []
    return make_record(
        entry,
        message,
        _event_name(message, errors),
        errors,
        received_at,
        client_event_id=client_event_id_of(message, "messageId", errors),
        client_ts=_client_time(message, received_at, errors),
        max_errors=max_errors,
        serialized=serialized,
    )


def _event_name(message: dict, errors: list[dict]) -> str:
    kind = message.get("type")
    if kind not in TYPES:
        errors.append(_error("/type", "enum", f"'type' must be one of {', '.join(sorted(TYPES))}"))
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


def _client_time(message: dict, received_at: datetime, errors: list[dict]) -> str | None:
    """When it happened, by our clock: the device's time shifted by its clock's skew."""
    field_name = "originalTimestamp" if "originalTimestamp" in message else "timestamp"
    original = message.get(field_name)
    if original is None:
        return None
    try:
        happened = parse_client_time(original)
    except ValueError:
        errors.append(
            _error(f"/{field_name}", "format", f"'{field_name}' must be an ISO 8601 date-time")
        )
        return None
    sent = message.get("sentAt")
    if sent is None:
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


def _error(path: str, keyword: str, message: str) -> dict:
    return {"path": path, "keyword": keyword, "message": message}
