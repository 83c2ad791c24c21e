"""`flask events stats|get|replay-failed|set-aside|requeue-unreadable|discard-set-aside`."""

from __future__ import annotations

import json
import uuid

import click
from flask.cli import with_appcontext

from app.celery_client import celery_client
from app.cli import emit, fail, find_app, json_option
from app.extensions import db
from app.models import Event
from app.ops import set_aside
from app.store.events import store_events
from app.store.reads.counts import summarize
from celery_config import DEAD_LETTER_QUEUE


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


def _broker_url() -> str:
    conf = celery_client.app.conf
    return conf.broker_read_url or conf.broker_url or ""


@events.command("set-aside")
@json_option
@with_appcontext
def set_aside_show(as_json: bool) -> None:
    """Show what waits outside the queues: parked batches and unreadable messages."""
    try:
        found = set_aside.inspect(_broker_url())
    except set_aside.NotRedis as exc:
        fail(str(exc), as_json)
    parked = found["dead_letter"]
    lines = [f"dead_letter: {parked['batches']} batch(es), {parked['events']} event(s)"]
    lines += [f"  {n} x {error}" for error, n in parked["errors"].items()]
    if parked["batches"]:
        lines.append("  store them with: flask events replay-failed")
    for queue, unreadable in found["unreadable"].items():
        lines.append(f"{set_aside.UNREADABLE_PREFIX}:{queue}: {unreadable['messages']} message(s)")
        lines += [f"  {preview}" for preview in unreadable["previews"]]
    emit(found, as_json, "\n".join(lines))


@events.command("requeue-unreadable")
@click.argument("queue", default="default")
@json_option
@with_appcontext
def requeue_unreadable(queue: str, as_json: bool) -> None:
    """Put QUEUE's unreadable messages back on it (e.g. after an upgrade that reads them)."""
    try:
        moved = set_aside.requeue_unreadable(_broker_url(), queue)
    except (set_aside.NotRedis, ValueError) as exc:
        fail(str(exc), as_json)
    emit({"queue": queue, "requeued": moved}, as_json, f"Requeued {moved} message(s) on {queue}.")


@events.command("discard-set-aside")
@click.option("--dead-letter", "dead_letter", is_flag=True, help="Discard every parked batch.")
@click.option("--unreadable", "queue", default=None, help="Discard QUEUE's unreadable messages.")
@click.option("--yes", is_flag=True, help="Confirm: the events they hold are lost.")
@json_option
@with_appcontext
def discard_set_aside(dead_letter: bool, queue: str | None, yes: bool, as_json: bool) -> None:
    """Delete parked batches or unreadable messages for good (after inspecting them)."""
    if dead_letter == (queue is not None):
        fail("name exactly one of --dead-letter or --unreadable QUEUE", as_json)
    if not yes:
        fail("discarding loses the events they hold: add --yes to confirm", as_json)
    try:
        key = DEAD_LETTER_QUEUE if dead_letter else set_aside.unreadable_key(queue)
        discarded = set_aside.discard(_broker_url(), key)
    except (set_aside.NotRedis, ValueError) as exc:
        fail(str(exc), as_json)
    emit({"list": key, "discarded": discarded}, as_json, f"Discarded {discarded} from {key}.")
