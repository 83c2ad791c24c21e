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

from app.ingest.body import PayloadError, too_deep
from app.ingest.records import build_record, canonical_json
from app.ingest.registry import AppEntry
from app.validation.envelopes import SEGMENT_TYPES, segment

# Segment's documented limits (HTTP Tracking API): fixed by the SDKs, not a setting.
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500

TYPES = SEGMENT_TYPES
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
    return build_record(entry, message, received_at, max_errors, serialized, envelope=segment)
