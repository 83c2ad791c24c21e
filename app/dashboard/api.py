"""/api/apps/<app_id>/…: the JSON behind the dashboard pages (a stable interface).

Authenticated by the session cookie, never by an ingest key: a logged-out caller gets
401, a developer who is not a member of the app gets 404, exactly as for an unknown app.
POSTs carry the page's CSRF token in the `X-CSRFToken` header. One event's JSON
(`/api/apps/<app_id>/events/<id>`) is the test API's (app/testapi/), which reads the
session too.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user

from app.auth.sessions import login as sessions
from app.dashboard.access import member_app_or_404, polled_app_id_or_404
from app.ingest.errors import error_response
from app.store import live_marks
from app.store.ranges import UnknownRange, time_range
from app.store.reads import events as event_queries
from app.store.reads import range_counts as range_stats
from app.store.reads import range_errors
from app.store.reads.events import BadFilter

bp = Blueprint("dashboard_api", __name__, url_prefix="/api/apps")
SEARCH_DEFAULT_RANGE = "24h"


class BadRequest(ValueError):
    """A query the endpoint refuses, with a message meant for the caller."""


@bp.before_request
def _logged_in_only() -> Response | None:
    """Answer 401, not a login redirect: the caller is a script or the page's own JS."""
    if _live_poll():
        sessions.identify_by_id_only()
    if not current_user.is_authenticated:
        return error_response(401, "unauthorized", "log in to the dashboard first")
    return None


@bp.before_request
def _no_nul_characters() -> Response | None:
    """Refuse NUL in the path or query: PostgreSQL text cannot hold it, and a name or search
    carrying one would fail inside the query as a 500."""
    if "\x00" in request.path or b"%00" in request.query_string:
        return error_response(400, "bad_request", "the path and query must not contain NUL")
    return None


@bp.errorhandler(BadFilter)
@bp.errorhandler(UnknownRange)
@bp.errorhandler(BadRequest)
def _bad_request(error: ValueError) -> Response:
    return error_response(400, "bad_request", str(error))


@bp.after_request
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _live_poll() -> bool:
    """An open live page asking for what is new: the stream with `after` and no `before`."""
    args = request.args
    return (
        request.endpoint == "dashboard_api.events"
        and bool(args.get("after"))
        and not args.get("before")
    )


@bp.get("/<uuid:app_id>/events")
def events(app_id: uuid.UUID) -> Response:
    """List the app's newest events, filtered; `after` returns only newer ones (live)."""
    polling = _live_poll()
    app_id = polled_app_id_or_404(app_id) if polling else member_app_or_404(app_id)[0].id
    since = None
    if request.args.get("range"):
        since = time_range(request.args["range"]).start()
    elif request.args.get("q"):
        # A search reads payloads: bound it to a day unless a range is asked for, polls
        # too (a page with no results polls from the zero id; the store holds the same
        # bound, `reads.events.SEARCH_WINDOW`).
        since = time_range(SEARCH_DEFAULT_RANGE).start()
    wanted = event_queries.parse_filter(request.args, since=since)
    # Read before the query: a commit during it changes the mark for the next poll.
    mark = live_marks.current(app_id) if polling else None
    if mark is not None and request.args.get("mark") == mark:
        # Nothing stored for the app since the page's last answer: nothing for any filter.
        return jsonify(
            events=[], cursor=str(wanted.after), next_before=None, limit=wanted.limit, mark=mark
        )
    rows = [event_queries.as_row(event) for event in event_queries.stream(app_id, wanted)]
    return jsonify(
        events=rows,
        # The live page polls with after=cursor; a full page means it may have missed some.
        cursor=rows[0]["id"] if rows else (str(wanted.after) if wanted.after else None),
        next_before=rows[-1]["id"] if len(rows) == wanted.limit else None,
        limit=wanted.limit,
        mark=mark,
    )


@bp.get("/<uuid:app_id>/stats")
def app_stats(app_id: uuid.UUID) -> Response:
    """Counts per status and the chart of a range, from the counters and rollups."""
    app, _role = member_app_or_404(app_id)
    window = time_range(request.args.get("range"))
    return jsonify(range=window.name, **range_stats.range_stats(app.id, window))


@bp.get("/<uuid:app_id>/errors")
def errors(app_id: uuid.UUID) -> Response:
    """Errors grouped by event name, JSON path and keyword, biggest first."""
    app, _role = member_app_or_404(app_id)
    window = time_range(request.args.get("range"), default="24h")
    return jsonify(range=window.name, **range_errors.range_errors(app.id, window))


from app.dashboard.plan import api as api_plan  # noqa: E402,F401  (registers the /schemas routes on bp)
