"""Segment's HTTP Tracking API: POST /v1/batch, /v1/b, /v1/track, ... and the SDK settings.

Answers 200 {"success": true} once the events are in the broker (or, degraded, in the
database), never 202: Segment's SDKs treat any 2xx as delivered. The records go through
the same validation, group commit and publishing as our own /api/logs routes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from flask import Response, current_app, request

from app.ingest.body import PayloadError, decode_body, discard_oversized_body, parse_json
from app.ingest.errors import ApiError
from app.ingest.group_commit import group_publisher
from app.ingest.publish import StorageUnavailable, queue_records
from app.ingest.ratelimit import check_rate_limit
from app.ingest.records import BadTestRun, mark_test_run
from app.ingest.segment import bp
from app.ingest.segment.auth import app_for, body_key, header_key
from app.ingest.segment.mapping import (
    MAX_BATCH_BYTES,
    batch_messages,
    message_of,
    segment_record,
)
from app.ingest.shape import Shape

SUCCESS = b'{"success":true}'
# One mobile SDK posts its JSON as text/plain; a browser's beacon may send no type at all.
ACCEPTED_TYPES = frozenset({"application/json", "text/plain", ""})


@bp.post("/batch")
@bp.post("/b")  # the mobile SDKs' path
def batch() -> Response:
    """Validate a Segment batch and queue its events for storage."""
    with group_publisher.arriving():
        return _accept(None)


@bp.post("/<any(track, identify, page, screen, group, alias):kind>")
def single(kind: str) -> Response:
    """Validate one Segment call of the route's type and queue it for storage."""
    with group_publisher.arriving():
        return _accept(kind)


@bp.get("/projects/<write_key>/settings")
def sdk_settings(write_key: str) -> Response:
    """The settings document mobile SDKs fetch at start: send everything here."""
    app_for(write_key)
    settings = {
        "integrations": {"Segment.io": {"apiKey": write_key, "apiHost": f"{request.host}/v1"}},
        "plan": {"track": {}, "identify": {}},
        "edgeFunction": {},
    }
    return Response(orjson.dumps(settings), mimetype="application/json")


def _accept(kind: str | None) -> Response:
    key = header_key()
    entry = app_for(key) if key else None  # a header key is checked before the body is read
    document = parse_json(_read_body(), max_depth=None)  # items are depth-checked one by one
    if entry is None:
        entry = app_for(body_key(document))
    check_rate_limit(entry)
    if kind is None:
        items, shared = batch_messages(document)
    else:
        items, shared = [document], {}
    config = current_app.config
    received_at = datetime.now(UTC)
    records = [
        segment_record(
            entry,
            message_of(item, shared, kind),
            received_at,
            config["MAX_ERRORS_PER_EVENT"],
            config["MAX_NESTING_DEPTH"],
        )
        for item in items
    ]
    for record in records:  # a CI suite's run: the message's own context.testRun
        context = record["payload"].get("context")
        try:
            mark_test_run([record], context.get("testRun") if isinstance(context, dict) else None)
        except BadTestRun as exc:
            raise ApiError(400, "bad_test_run", str(exc)) from None
    if records:
        _queue(records, Shape.BATCH if kind is None else Shape.SINGLE_EVENT)
    return Response(SUCCESS, status=200, mimetype="application/json")


def _read_body() -> bytes:
    """The body, gunzipped when sent so, at most Segment's 500 KB; 400 past it."""
    mimetype = request.mimetype
    if mimetype not in ACCEPTED_TYPES and not mimetype.endswith("+json"):
        raise PayloadError(
            415, "unsupported_media_type", "send Content-Type: application/json or text/plain"
        )
    length = request.content_length
    if length is not None and length > MAX_BATCH_BYTES:
        discard_oversized_body(request.environ["wsgi.input"], length, MAX_BATCH_BYTES)
        raise PayloadError(
            400, "too_large", f"a batch must not exceed {MAX_BATCH_BYTES // 1024} KB"
        )
    return decode_body(
        request.get_data(cache=False), request.headers.get("Content-Encoding"), MAX_BATCH_BYTES
    )


def _queue(records: list[dict], shape: Shape) -> None:
    try:
        queue_records(records, shape)
    except StorageUnavailable:
        raise ApiError(
            503,
            "unavailable",
            "events cannot be kept right now; retry later",
            retry_after=current_app.config["RETRY_AFTER_SECONDS"],
        ) from None
