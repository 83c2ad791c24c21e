"""Turn an accepted event into the storage record the workers write.

A record is a JSON-safe dict: it crosses the broker as is and `store.events` writes it.
It carries the verdict (status, errors, schema version) the client is answered with.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
import uuid_utils

from app.ingest.registry import AppEntry
from app.validation import validate

MAX_EVENT_NAME = 200
MAX_EVENT_ID = 128
MAX_TEST_RUN = 128


class BadTestRun(ValueError):
    """A test-run id that cannot be stored, with a message meant for the client."""


def build_record(
    entry: AppEntry,
    event: Any,
    received_at: datetime,
    max_errors: int = 50,
    serialized: bytes | None = None,
) -> dict:
    """Validate one event and return the record that storage will write.

    `serialized` is `canonical_json(event)` when the caller already has it.
    """
    errors: list[dict] = []
    event_name = ""
    client_event_id = None
    client_ts = None
    schema_version = None
    if not isinstance(event, dict):
        errors.append(_error("", "type", "an event must be a JSON object"))
    else:
        event_name = _event_name(event, errors)
        client_event_id = _client_event_id(event, errors)
        client_ts = _client_timestamp(event, errors)
    planned = entry.plan.get(event_name) if event_name else None
    if planned is not None:
        schema_version = planned.version
        errors.extend(validate(planned.validator, event, max_errors))
    if errors:
        status = "invalid"
    elif planned is None:
        status = "unplanned"
    else:
        status = "valid"
    return {
        "id": new_event_id(),
        "app_id": entry.id,
        "client_event_id": client_event_id,
        "event_name": event_name,
        "payload": event,
        "payload_hash": hashlib.sha256(serialized or canonical_json(event)).hexdigest(),
        "status": status,
        "errors": errors[:max_errors],
        "schema_version": schema_version,
        "client_ts": client_ts,
        "received_at": received_at.isoformat(),
    }


def verdict(record: dict) -> dict:
    """The part of a record a client sees in the 202 answer."""
    return {
        "event_id": record["id"],
        "event_name": record["event_name"] or None,
        "status": record["status"],
        "errors": record["errors"],
    }


def test_run_id(value: object) -> str | None:
    """Check a test-run id (`X-Test-Run`, Segment's `context.testRun`); None when absent.

    Raise BadTestRun for anything but 1 to 128 printable characters.
    """
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) > MAX_TEST_RUN
        or not value.isprintable()
        or value != value.strip()
    ):
        raise BadTestRun(
            f"a test run id must be 1 to {MAX_TEST_RUN} printable characters, "
            "without leading or trailing spaces"
        )
    return value


def mark_test_run(records: list[dict], test_run: object) -> list[dict]:
    """Put the records in a CI test run (a Segment route calls this with `context.testRun`).

    Test-run events are hidden from the dashboard's stream by default, found by the test
    API's `test_run` filter, and removed after a day. Raise BadTestRun for a bad id.
    """
    run = test_run_id(test_run)
    if run is not None:
        for record in records:
            record["test_run"] = run
    return records


def new_event_id() -> str:
    """A time-ordered UUID (version 7, RFC 9562) for a stored event.

    New ids land at the right end of the primary-key index instead of on a random page
    of it: PostgreSQL's COPY measured about 4 µs less per row (2.3 s against 1.9 s for
    100,000 rows into a 650,000-row table), and creating one costs 0.4 µs against
    2.5 µs for uuid4.
    """
    return str(uuid_utils.uuid7())


def canonical_json(event: Any) -> bytes:
    """The event as compact JSON with sorted keys: what its payload hash is taken of."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


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


def _client_event_id(event: dict, errors: list[dict]) -> str | None:
    value = event.get("eventId")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(_error("/eventId", "type", "'eventId' must be a string or an integer"))
        return None
    value = str(value)
    if not value or len(value) > MAX_EVENT_ID:
        errors.append(
            _error("/eventId", "maxLength", f"'eventId' must have 1 to {MAX_EVENT_ID} characters")
        )
        return None
    return value


def _client_timestamp(event: dict, errors: list[dict]) -> str | None:
    value = event.get("timestamp")
    if value is None:
        return None
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
        errors.append(
            _error(
                "/timestamp",
                "format",
                "'timestamp' must be an ISO 8601 date-time or epoch seconds/milliseconds",
            )
        )
        return None
    return moment.astimezone(UTC).isoformat()
