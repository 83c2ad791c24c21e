"""The tracking plan's read side: versions, diffs, try-it, inference and impact preview.

Nothing here writes: saving goes through `catalog.set_schema`, which makes a new,
immutable version.
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections import Counter

from genson import SchemaBuilder
from sqlalchemy import select

from app.extensions import db
from app.models import EventSchema
from app.models.types import rfc3339
from app.store.reads.events import recent_of_name
from app.validation import InvalidSchema, check_schema, compile_validator, validate

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
IMPACT_EVENTS = 1000
INFER_EVENTS = 200


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


def infer(app_id: uuid.UUID, event_name: str, sample: int = INFER_EVENTS) -> dict:
    """Return a draft schema merged from the newest stored payloads of one event name."""
    builder = SchemaBuilder(schema_uri=DRAFT_2020_12)
    events = recent_of_name(app_id, event_name, sample)
    for event in events:
        builder.add_object(event.payload)
    schema = builder.to_schema() if events else {"$schema": DRAFT_2020_12, "type": "object"}
    return {"event_name": event_name, "examples_read": len(events), "schema": schema}


def impact(app_id: uuid.UUID, event_name: str, schema: object, sample: int = IMPACT_EVENTS) -> dict:
    """Replay the newest stored events of one name against a draft: pass, fail, top errors."""
    check_schema(schema)
    validator = compile_validator(schema)
    events = recent_of_name(app_id, event_name, sample)
    failing = 0
    groups: Counter[tuple[str, str]] = Counter()
    for event in events:
        errors = validate(validator, event.payload)
        if errors:
            failing += 1
            groups.update({(error["path"], error["keyword"]) for error in errors})
    return {
        "event_name": event_name,
        "replayed": len(events),
        "would_pass": len(events) - failing,
        "would_fail": failing,
        "top_errors": [
            {"path": path, "keyword": keyword, "events": count}
            for (path, keyword), count in groups.most_common(10)
        ],
    }


__all__ = ["InvalidSchema", "diff", "impact", "infer", "try_payload", "versions", "version"]


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
