"""Every API failure is JSON: {"error": code, "message": ...}."""

from __future__ import annotations

from flask import Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from app.ingest.api import bp
from app.ingest.body import PayloadError


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def error_response(
    status: int, code: str, message: str, retry_after: int | None = None
) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.errorhandler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.retry_after)


@bp.errorhandler(PayloadError)
def handle_payload_error(error: PayloadError) -> Response:
    return error_response(error.status, error.code, error.message)


@bp.errorhandler(HTTPException)
def handle_http_error(error: HTTPException) -> Response:
    if error.code == 413:
        limit = current_app.config["MAX_REQUEST_BYTES"]
        return error_response(413, "too_large", f"the request body exceeds {limit} bytes")
    code = (error.name or "error").lower().replace(" ", "_")
    return error_response(error.code or 500, code, error.description or error.name)
