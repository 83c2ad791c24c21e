"""GET /api/tasks/<task_id>: the state of a queued storage task."""

from __future__ import annotations

from celery.result import AsyncResult
from flask import Response, jsonify

from app.celery_client import celery_client
from app.ingest.api import bp
from app.ingest.errors import ApiError


@bp.get("/tasks/<task_id>")
def task_status(task_id: str) -> Response:
    """Report a task's state (PENDING also means unknown) and, once done, its result."""
    result = AsyncResult(task_id, app=celery_client.app)
    try:
        state = result.state
        payload = result.result if result.ready() else None
    except Exception as exc:  # the result backend is down
        raise ApiError(503, "unavailable", f"task states cannot be read: {exc}", 5) from None
    if isinstance(payload, BaseException):
        payload = {"error": f"{type(payload).__name__}: {payload}"}
    return jsonify(task_id=task_id, state=state, result=payload)
