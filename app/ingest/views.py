"""POST /api/logs/<app_id> and /api/logs/<app_id>/batch: validate, enqueue, answer 202."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from flask import Response, current_app, request

from app.ingest.api import bp
from app.ingest.body import (
    PayloadError,
    decode_body,
    discard_oversized_body,
    parse_json,
    too_deep,
)
from app.ingest.errors import ApiError
from app.ingest.group_commit import group_publisher
from app.ingest.publish import StorageUnavailable, queue_records
from app.ingest.ratelimit import check_rate_limit
from app.ingest.records import BadTestRun, build_record, canonical_json, mark_test_run, verdict
from app.ingest.registry import AppEntry, RegistryUnavailable, registry
from app.ingest.shape import Shape

QUEUED = "Event queued for processing"
STORED_DIRECTLY = "Event stored (queue unavailable, written directly)"


@bp.post("/logs/<app_id>")
def ingest_event(app_id: str) -> Response:
    """Validate one event and queue it for storage."""
    entry = _authenticate(app_id)
    with group_publisher.arriving():
        return _accept_event(entry)


def _accept_event(entry: AppEntry) -> Response:
    config = current_app.config
    body = _read_body()
    if len(body) > config["MAX_EVENT_BYTES"]:
        raise ApiError(
            413, "too_large", f"an event must not exceed {config['MAX_EVENT_BYTES']} bytes"
        )
    event = parse_json(body, config["MAX_NESTING_DEPTH"])
    if not isinstance(event, dict):
        raise ApiError(400, "not_an_object", "the body must be a JSON object (one event)")
    record = build_record(entry, event, datetime.now(UTC), config["MAX_ERRORS_PER_EVENT"])
    _in_test_run([record])
    task_id = _queue_records([record], Shape.SINGLE_EVENT)
    answer = verdict(record)
    answer["task_id"] = task_id
    answer["message"] = QUEUED if task_id else STORED_DIRECTLY
    return _json(202, answer)


@bp.post("/logs/<app_id>/batch")
def ingest_batch(app_id: str) -> Response:
    """Validate a batch of events and queue them as one storage task."""
    entry = _authenticate(app_id)
    with group_publisher.arriving():
        return _accept_batch(entry)


def _accept_batch(entry: AppEntry) -> Response:
    config = current_app.config
    # Items are depth-checked one by one below, so one deep item is refused alone.
    document = parse_json(_read_body(), max_depth=None)
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise ApiError(400, "not_a_batch", 'the body must be {"events": [...]}')
    items = document["events"]
    if not items:
        raise ApiError(400, "empty_batch", "a batch must contain at least one event")
    if len(items) > config["MAX_BATCH_EVENTS"]:
        raise ApiError(
            413,
            "too_many_events",
            f"a batch may contain at most {config['MAX_BATCH_EVENTS']} events",
        )
    received_at = datetime.now(UTC)
    records, results = [], []
    for index, item in enumerate(items):
        serialized = canonical_json(item)
        refusal = _item_refusal(item, serialized, config)
        if refusal:
            results.append({"index": index, "event_id": None, "status": "rejected", **refusal})
            continue
        record = build_record(entry, item, received_at, config["MAX_ERRORS_PER_EVENT"], serialized)
        records.append(record)
        results.append({"index": index, **verdict(record)})
    _in_test_run(records)
    task_id = _queue_records(records, Shape.BATCH) if records else None
    return _json(
        202,
        {
            "accepted": len(records),
            "rejected": len(items) - len(records),
            "task_id": task_id,
            "message": _batch_message(task_id, records),
            "results": results,
        },
    )


def _in_test_run(records: list[dict]) -> None:
    """Mark the records with the request's `X-Test-Run` header, if it has one."""
    try:
        mark_test_run(records, request.headers.get("X-Test-Run"))
    except BadTestRun as exc:
        raise ApiError(400, "bad_test_run", str(exc)) from None


def _batch_message(task_id: str | None, records: list[dict]) -> str:
    if not records:
        return "No event accepted"
    return QUEUED if task_id else STORED_DIRECTLY


def _authenticate(app_id: str) -> AppEntry:
    try:
        entry = registry.app(app_id)
        # A miss may be an app or key created a moment ago: look for news once, now.
        if entry is None:
            registry.recheck()
            entry = registry.app(app_id)
        key = request.headers.get("X-API-Key") or _bearer_token()
        if entry is not None and key and not entry.accepts_key(key):
            registry.recheck()
            entry = registry.app(app_id)
    except RegistryUnavailable:
        raise ApiError(
            503,
            "unavailable",
            "the service is starting or its database is unreachable",
            retry_after=current_app.config["RETRY_AFTER_SECONDS"],
        ) from None
    if entry is None:
        raise ApiError(404, "unknown_app", f"no app with id {app_id!r}")
    if not key:
        raise ApiError(401, "missing_key", "send the app's ingest key in X-API-Key")
    if not entry.accepts_key(key):
        raise ApiError(401, "invalid_key", "the ingest key is not valid for this app")
    check_rate_limit(entry)
    return entry


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _read_body() -> bytes:
    if not request.mimetype or not (
        request.mimetype == "application/json" or request.mimetype.endswith("+json")
    ):
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    limit = current_app.config["MAX_REQUEST_BYTES"]
    length = request.content_length
    if length is not None and length > limit:
        discard_oversized_body(request.environ["wsgi.input"], length, limit)
        raise PayloadError(413, "too_large", f"the request body exceeds {limit} bytes")
    return decode_body(
        request.get_data(cache=False), request.headers.get("Content-Encoding"), limit
    )


def _item_refusal(item: object, serialized: bytes, config) -> dict | None:
    """Refuse an item too big or too deep to store; smaller faults are stored as invalid."""
    if len(serialized) > config["MAX_EVENT_BYTES"]:
        return _refusal("too_large", f"an event must not exceed {config['MAX_EVENT_BYTES']} bytes")
    if too_deep(serialized, item, config["MAX_NESTING_DEPTH"]):
        return _refusal(
            "too_deep", f"JSON nesting deeper than {config['MAX_NESTING_DEPTH']} levels"
        )
    return None


def _refusal(code: str, message: str) -> dict:
    return {"event_name": None, "errors": [{"path": "", "keyword": code, "message": message}]}


def _queue_records(records: list[dict], shape: Shape) -> str | None:
    """Publish the records with those of concurrent requests; return the task id."""
    try:
        return queue_records(records, shape)
    except StorageUnavailable:
        raise ApiError(
            503,
            "unavailable",
            "events cannot be kept right now; retry later",
            retry_after=current_app.config["RETRY_AFTER_SECONDS"],
        ) from None


def _json(status: int, body: dict) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")
