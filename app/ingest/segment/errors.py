"""Every /v1 failure is JSON: {"success": false, "error", "code", "message"}.

Segment's SDKs log `code` and `message` from an error answer; `error` holds the same code,
as every error of our own API does (one shape in the OpenAPI document). Oversized input is a 400
there (Segment's documented answer), where our own routes say 413.
"""

from __future__ import annotations

import orjson
from flask import Response, current_app
from werkzeug.exceptions import HTTPException

from app.ingest.body import PayloadError
from app.ingest.errors import ApiError
from app.ingest.segment import bp


def segment_error(status: int, code: str, message: str, retry_after: int | None = None) -> Response:
    """A Segment-shaped JSON error answer."""
    body = {"success": False, "error": code, "code": code, "message": message}
    response = Response(orjson.dumps(body), status=status, mimetype="application/json")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.errorhandler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    status = 400 if error.status == 413 else error.status
    return segment_error(status, error.code, error.message, error.retry_after)


@bp.errorhandler(PayloadError)
def handle_payload_error(error: PayloadError) -> Response:
    status = 400 if error.status == 413 else error.status
    return segment_error(status, error.code, error.message)


@bp.errorhandler(HTTPException)
def handle_http_error(error: HTTPException) -> Response:
    if error.code == 413:  # past MAX_REQUEST_BYTES, before our own limit could look
        limit = current_app.config["MAX_REQUEST_BYTES"]
        return segment_error(400, "too_large", f"the request body exceeds {limit} bytes")
    code = (error.name or "error").lower().replace(" ", "_")
    return segment_error(error.code or 500, code, error.description or error.name)
