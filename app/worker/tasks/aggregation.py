"""The batch_processing pool's tasks: rollups, alerts, digests, retention. Thin wrappers:
the logic lives in app/store/ and is tested there; a failure is logged with the app id
and the next beat tick runs the job again."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta

from celery import current_app as current_celery
from celery import shared_task
from flask import current_app

from app.background.alerts import alert_new_groups
from app.background.digests import send_digests
from app.background.maintenance import maintain
from app.store.rollups import compute as rollups
from app.store.rollups import marks as rollup_marks
from celery_config import (
    DIGEST_TASK,
    MAINTENANCE_TASK,
    ROLLUP_RECENT_TASK,
    SUMMARIZE_ALL_TASK,
    SUMMARIZE_APP_TASK,
)

log = logging.getLogger(__name__)

# The hourly run covers every app with counters in the last day and an hour.
DAILY_TRAFFIC = timedelta(hours=25)


@shared_task(name=SUMMARIZE_APP_TASK)
def batch_process_events(app_id: str, hours: float = 24) -> dict:
    """Recompute an app's rollups and error groups for the last `hours`; alert new groups."""
    try:
        now = datetime.now(UTC)
        result = rollups.roll_up(uuid.UUID(app_id), hours, now=now)
        if "skipped" not in result:
            # The dashboard reads these hours from the rollups from now on.
            start = now - timedelta(hours=hours)
            rollup_marks.record_run(current_celery.backend, uuid.UUID(app_id), start, now)
            result["alerts"] = alert_new_groups(uuid.UUID(app_id))
        return result
    except Exception:
        log.exception("rollup of app %s failed; the next tick runs it again", app_id)
        raise


@shared_task(name=ROLLUP_RECENT_TASK)
def rollup_recent_apps(minutes: float = 5) -> int:
    """Queue this hour's and the last hour's rollup of every app with counters written in
    the last `minutes` (beat's cadence plus a margin)."""
    return _queue_rollups(datetime.now(UTC) - timedelta(minutes=minutes), hours=1, expires=55)


@shared_task(name=SUMMARIZE_ALL_TASK)
def aggregate_all_apps(hours: float = 24) -> int:
    """Queue a rollup of the last `hours` for every app with traffic (hourly and daily)."""
    return _queue_rollups(datetime.now(UTC) - max(DAILY_TRAFFIC, timedelta(hours=hours)), hours)


def _queue_rollups(since: datetime, hours: float, expires: float | None = None) -> int:
    app_ids = rollups.apps_with_traffic_since(since)
    for app_id in app_ids:
        batch_process_events.apply_async((str(app_id), hours), expires=expires)
    return len(app_ids)


@shared_task(name=DIGEST_TASK)
def send_daily_digests(day: str | None = None) -> dict:
    """Queue yesterday's digest (or `day`'s, YYYY-MM-DD) of every app with violations."""
    wanted = date.fromisoformat(day) if day else datetime.now(UTC).date() - timedelta(days=1)
    return send_digests(wanted)


@shared_task(name=MAINTENANCE_TASK)
def maintain_storage() -> dict:
    """Delete expired events app by app, and requeue webhook deliveries never sent."""
    return maintain(current_app.config["RETENTION_DELETE_BATCH"])
