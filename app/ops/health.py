"""GET /health: database, broker (with its queues) and the workers seen per queue, each
bounded in time. The status is "failing" (still 200) when a queue holds messages and has
had no consumer for a minute (app/ops/consumers.py), or when this code and the database
are on different migration revisions (app/store/revision.py).

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
from app.ops.consumers import consumers_last_seen, describe, unconsumed_queues
from app.ops.degraded import DegradedCounter
from app.ops.queues import queue_status
from app.store.revision import revision_status
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
    database, broker = results["database"], results["broker"]
    workers = database.pop("workers", {}) if database.get("ok") else {}
    last_seen = database.pop("consumers", {}) if database.get("ok") else {}
    schema = database.pop("schema", {"ok": None})
    healthy = database["ok"] and broker["ok"]
    queues = _queues(broker, last_seen) if healthy else {"ok": None, "unconsumed": []}
    body = {
        # "failing": the web takes events, but some will wait (a pool nobody started, or
        # code and database on different migration revisions).
        "status": ("ok" if queues["ok"] and schema["ok"] else "failing")
        if healthy
        else "unavailable",
        "database": database,
        "schema": schema,
        "broker": broker,
        "workers": {queue: workers.get(queue, []) for queue in WORKER_POOLS},
        "queues": queues,
        "degraded_writes_this_process": DegradedCounter.count,
    }
    # Only what stops the web tier answers 503: a load balancer must not take a web
    # process out of rotation because a worker pool is missing.
    status = 200 if healthy else 503
    if not operator_request():
        return jsonify(status=body["status"]), status
    return jsonify(body), status


def _queues(broker: dict, last_seen: dict) -> dict:
    unconsumed = unconsumed_queues(broker.get("depths") or {}, last_seen)
    for found in unconsumed:
        found["problem"] = describe(found)
    return {"ok": not unconsumed, "unconsumed": unconsumed}


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
    return {
        "ok": True,
        "workers": workers,
        "consumers": consumers_last_seen(),
        "schema": revision_status(),
    }


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
