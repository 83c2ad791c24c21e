"""Turn an accepted event into the storage record the workers write.

A record is a JSON-safe dict: it crosses the broker as is and `store.events` writes it.
It carries the verdict (status, errors, schema version) the client is answered with,
`check_event`'s: the same function re-validation and the impact preview use.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
import uuid_utils

from app.ingest.registry import AppEntry
from app.validation import check_event
from app.validation.envelopes import Envelope, ours

MAX_TEST_RUN = 128


class BadTestRun(ValueError):
    """A test-run id that cannot be stored, with a message meant for the client."""


def build_record(
    entry: AppEntry,
    event: Any,
    received_at: datetime,
    max_errors: int = 50,
    serialized: bytes | None = None,
    envelope: Envelope = ours,
) -> dict:
    """Validate one event and return the record that storage will write.

    `serialized` is `canonical_json(event)` when the caller already has it; `envelope`
    reads the event's name, client id and time the way its wire format writes them.
    """
    checked = check_event(event, entry.plan, max_errors, envelope, received_at)
    return {
        "id": new_event_id(),
        "app_id": entry.id,
        "client_event_id": checked.client_event_id,
        "event_name": checked.event_name,
        "payload": event,
        "payload_hash": hashlib.sha256(serialized or canonical_json(event)).hexdigest(),
        "status": checked.status,
        "errors": checked.errors,
        "schema_version": checked.schema_version,
        "client_ts": checked.client_ts,
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
