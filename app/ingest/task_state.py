"""GET /api/tasks/<task_id>: the state of a queued storage task, for the app that sent it.

The caller sends the app's ingest key (X-API-Key or Bearer). A storage message may carry
several apps' events (group commit), and mail tasks' results name recipients, so an app
reads only a storage task that holds its own events, and only its own counts.
"""

from __future__ import annotations

from celery import states
from celery.result import AsyncResult
from flask import Response, current_app, jsonify, request

from app.celery_client import celery_client
from app.ingest.api import bp
from app.ingest.errors import ApiError
from app.ingest.registry import RegistryUnavailable, registry
from app.store.task_results import result_for_app

# States that say nothing yet about whose task it is (PENDING also means unknown).
_UNDECIDED = frozenset({states.PENDING, states.RECEIVED, states.STARTED, states.RETRY})


@bp.get("/tasks/<task_id>")
def task_status(task_id: str) -> Response:
    """Report a task's state and, once done, the calling app's share of its result."""
    app_id = _caller_app_id()
    result = AsyncResult(task_id, app=celery_client.app)
    try:
        state = result.state
        payload = result.result if result.ready() else None
    except Exception:  # the result backend is down
        raise ApiError(
            503, "unavailable", "task states cannot be read right now", _retry_after()
        ) from None
    if state in _UNDECIDED:
        return jsonify(task_id=task_id, state=state, result=None)
    own = result_for_app(payload, app_id)
    if own is None:
        raise ApiError(404, "unknown_task", "no task of this app has that id")
    return jsonify(task_id=task_id, state=state, result=own)


def _caller_app_id() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    key = request.headers.get("X-API-Key") or (token.strip() if scheme.lower() == "bearer" else "")
    if not key:
        raise ApiError(401, "missing_key", "send the app's ingest key in X-API-Key")
    try:
        entry = registry.app_for_key(key)
        if entry is None:
            registry.recheck()  # a key created a moment ago
            entry = registry.app_for_key(key)
    except RegistryUnavailable:
        raise ApiError(
            503, "unavailable", "the app registry is unavailable", _retry_after()
        ) from None
    if entry is None:
        raise ApiError(401, "invalid_key", "the ingest key is not valid for any app")
    return entry.id


def _retry_after() -> int:
    return current_app.config["RETRY_AFTER_SECONDS"]
