"""Hourly maintenance: day partitions of `events` (created ahead, expired ones dropped),
retention app by app (and test-run events after a day), alert mails and webhook
deliveries whose queueing or retry chain was lost (background/alert_outbox.py), expired
export files."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from app.background import alert_outbox, exports, retention
from app.extensions import db
from app.store import partitions

log = logging.getLogger(__name__)


def maintain(batch_rows: int, now: datetime | None = None) -> dict:
    """Maintain partitions, run retention for every app (a failure is logged and the
    others go on), requeue stale deliveries. Return what each step did."""
    now = now or datetime.now(UTC)
    partitioned = partitions.is_partitioned()
    changed = maintain_partitions(now) if partitioned else {}
    longest = retention.longest_retention_days()
    db.session.rollback()
    deleted, test_runs = {}, {}
    for app_id in retention.apps_with_events():
        try:
            removed = retention.expire_app(app_id, batch_rows, now, partitioned, longest)
            runs_removed = retention.expire_test_runs(app_id, batch_rows, now)
        except Exception:
            db.session.rollback()
            log.exception("retention of app %s failed; the next run tries again", app_id)
            continue
        if removed:
            deleted[str(app_id)] = removed
        if runs_removed:
            test_runs[str(app_id)] = runs_removed
    return {
        **changed,
        "deleted": deleted,
        "deleted_test_run_events": test_runs,
        **alert_outbox.requeue_lost(max(now, datetime.now(UTC))),
        "expired_exports": exports.remove_expired_exports(),
    }


def maintain_partitions(now: datetime) -> dict:
    """Create the next days' partitions and drop the expired ones; a failure is logged
    and the next run tries again (both steps are idempotent)."""
    changed: dict = {"created_partitions": [], "dropped_partitions": []}
    try:
        changed["created_partitions"] = partitions.create_partitions(now.date())
        changed["dropped_partitions"] = partitions.drop_expired_partitions(
            now, retention.longest_retention_days()
        )
    except Exception:
        db.session.rollback()
        log.exception("partition maintenance failed; the next run tries again")
    return changed
