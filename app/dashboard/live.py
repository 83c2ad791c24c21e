"""The live stream page and one event's detail page."""

from __future__ import annotations

import json
import shlex
import uuid

from flask import abort, current_app, render_template, request

from app.dashboard import bp
from app.dashboard.access import member_app_or_404
from app.dashboard.payload_view import highlighted_payload
from app.ingest.segment.mapping import TYPES as SEGMENT_TYPES
from app.store import catalog
from app.store.ranges import RANGES
from app.store.reads import events as event_queries


@bp.get("/apps/<uuid:app_id>/live")
def live(app_id: uuid.UUID) -> str:
    """Show the newest events; the page then polls the stream's cursor once a second."""
    app, role = member_app_or_404(app_id)
    show_test_runs = request.args.get("test_runs") == "1"  # CI test runs are hidden by default
    first = event_queries.stream(
        app.id, event_queries.StreamFilter(limit=50, test_runs=show_test_runs)
    )
    return render_template(
        "live/page.html",
        app=app,
        role=role,
        rows=[event_queries.as_row(event) for event in first],
        event_names=[schema.event_name for schema in catalog.latest_schemas(app.id)],
        ranges=list(RANGES),
        show_test_runs=show_test_runs,
    )


@bp.get("/apps/<uuid:app_id>/events/<event_id>")
def event_detail(app_id: uuid.UUID, event_id: str) -> str:
    """Show one event: the payload with each error's location highlighted, and its facts."""
    app, role = member_app_or_404(app_id)
    event = event_queries.find_event(app.id, event_id)
    if event is None:
        abort(404, "This app has no event with that id.")
    detail = event_queries.as_detail(event)
    segment = segment_facts(detail["payload"])
    return render_template(
        "events/detail.html",
        app=app,
        role=role,
        event=detail,
        payload_html=highlighted_payload(detail["payload"], detail["errors"]),
        segment=segment,
        curl=resend_command(app.id, detail["payload"], segment),
    )


def segment_facts(payload: object) -> dict | None:
    """What a Segment message says about itself (type, user, the device's own time), or
    None for an event of our own format."""
    if not isinstance(payload, dict) or payload.get("type") not in SEGMENT_TYPES:
        return None
    if "messageId" not in payload and "eventName" in payload:
        return None
    original = payload.get("originalTimestamp", payload.get("timestamp"))
    return {
        "type": payload["type"],
        "user_id": payload.get("userId"),
        "anonymous_id": payload.get("anonymousId"),
        "original_ts": original if isinstance(original, str | int | float) else None,
        "sent_at": payload.get("sentAt") if isinstance(payload.get("sentAt"), str) else None,
    }


def resend_command(app_id: uuid.UUID, payload: object, segment: dict | None = None) -> str:
    """Return a curl command that sends the payload again (the key left as $LVD_INGEST_KEY),
    to Segment's route for its type when it is a Segment message."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    public_url = current_app.config["PUBLIC_URL"]
    url = f"{public_url}/v1/{segment['type']}" if segment else f"{public_url}/api/logs/{app_id}"
    return (
        f"curl -X POST {shlex.quote(url)} -H 'Content-Type: application/json' "
        f'-H "X-API-Key: $LVD_INGEST_KEY" -d {shlex.quote(body)}'
    )
