"""Validate events: JSON Schema draft 2020-12 (`schemas`), and the one verdict on an event,
envelope and schema together (`envelopes`). No Flask, no database."""

from app.validation.envelopes import (
    MAX_EVENT_ID,
    MAX_EVENT_NAME,
    EventCheck,
    PlannedEvent,
    check_event,
    client_event_id_of,
    parse_client_time,
)
from app.validation.schemas import (
    EventValidator,
    InvalidSchema,
    check_schema,
    compile_validator,
    json_pointer,
    validate,
)

__all__ = [
    "MAX_EVENT_ID",
    "MAX_EVENT_NAME",
    "EventCheck",
    "EventValidator",
    "InvalidSchema",
    "PlannedEvent",
    "check_event",
    "check_schema",
    "client_event_id_of",
    "compile_validator",
    "json_pointer",
    "parse_client_time",
    "validate",
]
