"""The tracking plan's read side: versions, diffs, try-it, inference and impact preview.

Nothing here writes: saving goes through `catalog.set_schema`, which makes a new,
immutable version. Inference and impact read stored payloads under a byte budget
(`recent_payloads`): before it, 5,000 payloads of 32 KB took 15.8 s and 1.5 GB in one web
process; now at most PAYLOAD_BYTE_BUDGET of payload text is read per request, a chunk
at a time, and the answer says how many examples fitted.
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections import Counter
from collections.abc import Iterator

from genson import SchemaBuilder
from sqlalchemy import Text, cast, func, select

from app.extensions import db
from app.models import Event, EventSchema
from app.models.types import rfc3339
from app.validation import (
    InvalidSchema,
    PlannedEvent,
    check_event,
    check_schema,
    compile_validator,
    validate,
)

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
IMPACT_EVENTS = 1000
INFER_EVENTS = 200
# Payload text one inference or impact request may read: about 0.5 s of decoding and
# validation in a web process, and a bounded share of its memory whatever the sample.
PAYLOAD_BYTE_BUDGET = 16 * 1024 * 1024
# Rows decoded at a time: only one chunk of payloads is held at once.
PAYLOAD_CHUNK_ROWS = 50


def versions(app_id: uuid.UUID, event_name: str) -> list[EventSchema]:
    """Return every saved version of one event's schema, newest first."""
    query = (
        select(EventSchema)
        .where(EventSchema.app_id == app_id, EventSchema.event_name == event_name)
        .order_by(EventSchema.version.desc())
    )
    return list(db.session.scalars(query))


def version(app_id: uuid.UUID, event_name: str, number: int) -> EventSchema | None:
    """Return one saved version, or None."""
    return db.session.scalar(
        select(EventSchema).where(
            EventSchema.app_id == app_id,
            EventSchema.event_name == event_name,
            EventSchema.version == number,
        )
    )


def as_dict(saved: EventSchema) -> dict:
    return {
        "event_name": saved.event_name,
        "version": saved.version,
        "schema": saved.schema,
        "created_at": rfc3339(saved.created_at),
    }


def pretty(document: object) -> str:
    """Return the stable, indented text a schema is shown and diffed as."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def diff(old: EventSchema, new: EventSchema) -> list[str]:
    """Return a unified diff between two saved versions' texts."""
    return list(
        difflib.unified_diff(
            pretty(old.schema).splitlines(),
            pretty(new.schema).splitlines(),
            fromfile=f"v{old.version}",
            tofile=f"v{new.version}",
            lineterm="",
        )
    )


def try_payload(schema: object, payload: object) -> list[dict]:
    """Validate one payload against a draft schema; raise InvalidSchema for a bad schema."""
    check_schema(schema)
    return validate(compile_validator(schema), payload)


class PayloadSample:
    """The newest stored payloads of one event name, newest first, while their text fits
    the byte budget; counts what it read (`examples`, `bytes_read`, `cut_by_budget`)."""

    def __init__(self, app_id: uuid.UUID, event_name: str, limit: int, byte_budget: int) -> None:
        self.app_id, self.event_name = app_id, event_name
        self.limit, self.byte_budget = limit, byte_budget
        self.examples = self.bytes_read = 0
        self.cut_by_budget = False

    def __iter__(self) -> Iterator[object]:
        size = _text_size(Event.payload)
        newest = (
            select(Event.id, Event.payload, size.label("size"))
            .where(Event.app_id == self.app_id, Event.event_name == self.event_name)
            .order_by(Event.id.desc())
            .limit(self.limit)
            .subquery()
        )
        # The sizes are summed in the database, so rows past the budget never leave it.
        running = func.sum(newest.c.size).over(order_by=newest.c.id.desc())
        sized = select(newest.c.payload, newest.c.size, running.label("running")).subquery()
        query = (
            select(sized.c.payload, sized.c.size, sized.c.running)
            .where(sized.c.running <= self.byte_budget)
            .order_by(sized.c.running)
        )
        rows = db.session.execute(query.execution_options(yield_per=PAYLOAD_CHUNK_ROWS))
        for payload, payload_size, _running in rows:
            self.examples += 1
            self.bytes_read += int(payload_size or 0)
            yield payload
        if self.examples < self.limit:
            self.cut_by_budget = self.examples < self._stored(self.examples + 1)

    def _stored(self, at_most: int) -> int:
        return db.session.scalar(
            select(func.count()).select_from(
                select(Event.id)
                .where(Event.app_id == self.app_id, Event.event_name == self.event_name)
                .limit(at_most)
                .subquery()
            )
        )

    def as_dict(self) -> dict:
        return {
            "examples_read": self.examples,
            "payload_bytes_read": self.bytes_read,
            "cut_by_byte_budget": self.cut_by_budget,
        }


def _text_size(column):
    """The payload's size as text, in bytes, computed by the database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.octet_length(cast(column, Text))
    return func.length(cast(column, Text))  # SQLite keeps JSON as text


def recent_payloads(
    app_id: uuid.UUID, event_name: str, limit: int, byte_budget: int = PAYLOAD_BYTE_BUDGET
) -> PayloadSample:
    """The newest `limit` payloads of one name, cut where their text passes `byte_budget`."""
    return PayloadSample(app_id, event_name, limit, byte_budget)


def infer(
    app_id: uuid.UUID,
    event_name: str,
    sample: int = INFER_EVENTS,
    byte_budget: int = PAYLOAD_BYTE_BUDGET,
) -> dict:
    """Return a draft schema merged from the newest stored payloads of one event name."""
    builder = SchemaBuilder(schema_uri=DRAFT_2020_12)
    payloads = recent_payloads(app_id, event_name, sample, byte_budget)
    for payload in payloads:
        builder.add_object(payload)
    schema = (
        builder.to_schema() if payloads.examples else {"$schema": DRAFT_2020_12, "type": "object"}
    )
    return {"event_name": event_name, **payloads.as_dict(), "schema": schema}


def impact(
    app_id: uuid.UUID,
    event_name: str,
    schema: object,
    sample: int = IMPACT_EVENTS,
    byte_budget: int = PAYLOAD_BYTE_BUDGET,
) -> dict:
    """Replay the newest stored events of one name against a draft: pass, fail, top errors."""
    check_schema(schema)
    # Ingest's own verdict (envelope checks too), with the draft as the name's schema.
    draft_plan = {event_name: PlannedEvent(0, compile_validator(schema))}
    payloads = recent_payloads(app_id, event_name, sample, byte_budget)
    failing = 0
    groups: Counter[tuple[str, str]] = Counter()
    for payload in payloads:
        errors = check_event(payload, draft_plan).errors
        if errors:
            failing += 1
            groups.update({(error["path"], error["keyword"]) for error in errors})
    return {
        "event_name": event_name,
        "replayed": payloads.examples,
        "would_pass": payloads.examples - failing,
        "would_fail": failing,
        "top_errors": [
            {"path": path, "keyword": keyword, "events": count}
            for (path, keyword), count in groups.most_common(10)
        ],
        **payloads.as_dict(),
    }


__all__ = [
    "InvalidSchema",
    "diff",
    "impact",
    "infer",
    "recent_payloads",
    "try_payload",
    "versions",
    "version",
]


def split_unplanned(unplanned: list[dict], planned_names: set[str]) -> tuple[list, list]:
    """Split a range's unplanned names into those still without a schema and those that
    got one since (their later events validate; only older ones are unplanned)."""
    still = [n for n in unplanned if n["event_name"] not in planned_names]
    since = [n for n in unplanned if n["event_name"] in planned_names]
    return still, since


MAX_PASTED_EXAMPLES = 100


def infer_from_examples(event_name: str, examples: list) -> dict:
    """Return a draft schema merged from pasted example payloads (one or more objects)."""
    if not examples or len(examples) > MAX_PASTED_EXAMPLES:
        raise ValueError(f"give between 1 and {MAX_PASTED_EXAMPLES} examples")
    if not all(isinstance(example, dict) for example in examples):
        raise ValueError("each example must be a JSON object, like an event's payload")
    builder = SchemaBuilder(schema_uri=DRAFT_2020_12)
    for example in examples:
        builder.add_object(example)
    return {"event_name": event_name, "examples_read": len(examples), "schema": builder.to_schema()}
