"""/system: queues, workers per queue, degraded and dead-letter counts (no app's data).

Only installation admins see it (the first account, and those named with
`flask users make-admin`); others get a 404, as for a page that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import abort, current_app, render_template
from flask_login import current_user
from sqlalchemy import select

from app.dashboard import bp
from app.extensions import db
from app.models import WorkerHeartbeat
from app.ops.degraded import DegradedCounter
from app.ops.queues import queue_status
from celery_config import WORKER_POOLS


@bp.get("/system")
def system() -> str:
    """Show what waits in the broker and which workers serve each queue."""
    if not current_user.is_admin:
        abort(404)
    try:
        status, broker_error = queue_status(current_app.extensions["celery"], timeout=1.0), None
    except Exception as exc:  # the page still shows the workers when the broker is down
        status, broker_error = None, f"{type(exc).__name__}: {exc}"
    return render_template(
        "system.html",
        status=status,
        broker_error=broker_error,
        queues=[queue for queue, _default, _env in WORKER_POOLS.values()],
        workers=workers_online(),
        degraded=DegradedCounter.count,
        flower_url=current_app.config["DASHBOARD_FLOWER_URL"],
    )


def workers_online() -> dict[str, list[str]]:
    """Return the hostnames whose heartbeat is recent, per queue they consume."""
    since = datetime.now(UTC) - timedelta(seconds=current_app.config["WORKER_STALE_SECONDS"])
    online: dict[str, list[str]] = {}
    for beat in db.session.scalars(select(WorkerHeartbeat)):
        seen = beat.last_seen if beat.last_seen.tzinfo else beat.last_seen.replace(tzinfo=UTC)
        if seen >= since:
            for queue in beat.queues:
                online.setdefault(queue, []).append(beat.hostname)
    return online
