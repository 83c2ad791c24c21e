"""GET /health: database, broker (with its queues) and the workers seen per queue, each
bounded in time.

Everyone gets the status (200 or 503, `{"status"}`); the details, whose error texts name
database and Redis hosts and users, go only to operators (`ops/access.py`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import select, text

from app.extensions import db
from app.models import WorkerHeartbeat
from app.ops.access import operator_request
from app.ops.degraded import DegradedCounter
from app.ops.queues import queue_status
from celery_config import WORKER_POOLS

bp = Blueprint("health", __name__)
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Answer 200 when the database and the broker answer, else 503; list live workers."""
    app = current_app._get_current_object()
    timeout = app.config["HEALTH_TIMEOUT_SECONDS"]
    futures = {
        "database": _checks.submit(_in_context, app, _database_and_workers),
        "broker": _checks.submit(_broker, app, timeout),
    }
    # One deadline for all checks, so the answer never waits longer than `timeout`.
    deadline = time.monotonic() + timeout
    results = {name: _outcome(future, deadline, timeout) for name, future in futures.items()}
    database = results["database"]
    workers = database.pop("workers", {}) if database.get("ok") else {}
    healthy = database["ok"] and results["broker"]["ok"]
    status = 200 if healthy else 503
    if not operator_request():
        return jsonify(status="ok" if healthy else "unavailable"), status
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "broker": results["broker"],
        "workers": {queue: workers.get(queue, []) for queue in WORKER_POOLS},
        "degraded_writes_this_process": DegradedCounter.count,
    }
    return jsonify(body), status


def _outcome(future, deadline: float, timeout: float) -> dict:
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return {"ok": False, "error": f"no answer within {timeout}s"}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _in_context(app: Flask, check):
    with app.app_context():
        return check(app)


def _database_and_workers(app: Flask) -> dict:
    db.session.execute(text("SELECT 1"))
    since = datetime.now(UTC) - timedelta(seconds=app.config["WORKER_STALE_SECONDS"])
    workers: dict[str, list[str]] = {}
    for beat in db.session.scalars(select(WorkerHeartbeat)):
        last_seen = beat.last_seen if beat.last_seen.tzinfo else beat.last_seen.replace(tzinfo=UTC)
        if last_seen >= since:
            for queue in beat.queues:
                workers.setdefault(queue, []).append(beat.hostname)
    return {"ok": True, "workers": workers}


def _broker(app: Flask, timeout: float) -> dict:
    celery_app = app.extensions["celery"]
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)
        transport = connection.transport_cls
    status = queue_status(celery_app, timeout)
    body = {"ok": True, "transport": str(transport), **status.as_dict()}
    url = celery_app.conf.broker_read_url or celery_app.conf.broker_url or ""
    if urlparse(url).scheme in ("redis", "rediss"):
        body["memory"] = redis_memory(url, timeout)
    return body


def redis_memory(url: str, timeout: float) -> dict:
    """Redis' memory use and limit; `refuses_writes` when maxmemory is reached under
    noeviction, where new events are refused and workers receive without BLMOVE."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        info = client.info("memory")
    finally:
        client.close()
    used, limit = int(info["used_memory"]), int(info.get("maxmemory", 0))
    policy = info.get("maxmemory_policy", "")
    return {
        "used_bytes": used,
        "max_bytes": limit,
        "policy": policy,
        "refuses_writes": bool(limit) and used >= limit and policy == "noeviction",
    }
