"""GET /api/apps/<app_id>/events/<id>?wait=N and POST /api/apps/<app_id>/events/search."""

from __future__ import annotations

import math
import time
import uuid

from flask import Response, jsonify, request

from app.extensions import db
from app.ingest.errors import ApiError, error_response
from app.store.reads import events as event_queries
from app.store.reads.events import BadFilter
from app.store.reads.search import find_stored, parse_search, search
from app.testapi import bp
from app.testapi.access import readable_app_id
from app.testapi.waiters import TooManyWaiters, stored_notices

MAX_WAIT_SECONDS = 30.0


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.retry_after)


@bp.errorhandler(BadFilter)
def _bad_filter(error: BadFilter) -> Response:
    return error_response(400, "bad_request", str(error))


@bp.after_request
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<uuid:app_id>/events/<event_id>")
def event(app_id: uuid.UUID, event_id: str) -> Response:
    """Return one stored event by our id, eventId or messageId; `wait` long-polls for it."""
    app_id = readable_app_id(app_id)
    wait = _wait_seconds(request.args.get("wait"))
    test_run = request.args.get("test_run") or None
    found = find_stored(app_id, event_id, test_run)
    if found is None and wait > 0:
        found = _wait_for(app_id, event_id, test_run, wait)
    if found is None:
        answer = jsonify(
            stored=False, error="not_found", message="this app has no stored event with that id"
        )
        answer.status_code = 404
        return answer
    return jsonify(stored=True, **event_queries.as_detail(found))


@bp.post("/<uuid:app_id>/events/search")
def search_events(app_id: uuid.UUID) -> Response:
    """Return stored events matching JSON filters, newest first, a page at a time."""
    app_id = readable_app_id(app_id)
    body = request.get_json(silent=True)
    if body is None:
        raise BadFilter("send the filters as a JSON object (Content-Type: application/json)")
    wanted = parse_search(body)
    rows, next_cursor = search(app_id, wanted)
    return jsonify(
        events=[event_queries.as_detail(row) for row in rows],
        next_cursor=str(next_cursor) if next_cursor else None,
        limit=wanted.limit,
        since=wanted.since.isoformat() if wanted.since else None,
    )


def _wait_for(app_id: uuid.UUID, event_id: str, test_run: str | None, wait: float):
    """Sleep until the event is stored or `wait` seconds pass; return it or None."""
    deadline = time.monotonic() + wait
    db.session.close()  # hold no database connection while asleep
    try:
        with stored_notices.waiter(str(app_id)) as waiter:
            while True:
                # Read after registering (and subscribing): a later commit wakes us.
                found = find_stored(app_id, event_id, test_run)
                db.session.close()
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0:
                    return found
                waiter.sleep(remaining)
    except TooManyWaiters:
        raise ApiError(
            503,
            "too_many_waiters",
            "this server holds as many waiting requests as it may; retry shortly",
            retry_after=1,
        ) from None


def _wait_seconds(value: str | None) -> float:
    """The wait asked for, capped at MAX_WAIT_SECONDS; BadFilter for a bad value."""
    if value is None or value == "":
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise BadFilter(f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}")
    return min(seconds, MAX_WAIT_SECONDS)
