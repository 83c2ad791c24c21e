"""`flask events stats|get|replay-failed`."""

from __future__ import annotations

import json
import uuid

import click
from flask.cli import with_appcontext

from app.cli import emit, fail, find_app, json_option
from app.extensions import celery_client, db
from app.models import Event
from app.store.events import store_events
from app.store.summaries import summarize


@click.group()
def events() -> None:
    """Inspect stored events and replay failed ones."""


@events.command("stats")
@click.argument("app_ref", metavar="APP")
@click.option("--hours", type=float, default=None, help="Only the last N hours.")
@json_option
@with_appcontext
def stats(app_ref: str, hours: float | None, as_json: bool) -> None:
    """Print APP's stored event counts by status and by event name."""
    app = find_app(app_ref, as_json)
    summary = summarize(app.id, hours)
    lines = [f"{app.name}: {summary['total']} stored"]
    lines += [f"  {status:<10} {n}" for status, n in summary["by_status"].items()]
    lines += [
        f"  {name}: " + ", ".join(f"{s} {n}" for s, n in counts.items())
        for name, counts in summary["by_event"].items()
    ]
    emit(summary, as_json, "\n".join(lines))


@events.command("get")
@click.argument("event_id")
@json_option
@with_appcontext
def get(event_id: str, as_json: bool) -> None:
    """Print one stored event by its server id."""
    try:
        found = db.session.get(Event, uuid.UUID(event_id))
    except ValueError:
        found = None
    if found is None:
        fail(f"no stored event with id {event_id!r}", as_json)
    data = {
        "event_id": str(found.id),
        "app_id": str(found.app_id),
        "client_event_id": found.client_event_id,
        "event_name": found.event_name or None,
        "status": found.status,
        "errors": found.errors,
        "schema_version": found.schema_version,
        "client_ts": found.client_ts,
        "received_at": found.received_at,
        "stored_at": found.stored_at,
        "payload": found.payload,
    }
    emit(data, as_json, json.dumps(data, indent=2, default=str))


@events.command("replay-failed")
@json_option
@with_appcontext
def replay_failed(as_json: bool) -> None:
    """Store the events parked on the dead-letter queue after their retries ran out."""
    from app.worker import dead_letter  # worker code, loaded only when this command runs

    try:
        outcome = dead_letter.replay(celery_client.app, store_events)
    except Exception as exc:
        fail(f"replay stopped: {exc}", as_json)
    emit(
        outcome,
        as_json,
        f"Replayed {outcome['events']} event(s) from {outcome['batches']} batch(es); "
        f"{outcome['stored']} newly stored.",
    )
