"""Hourly maintenance: retention app by app, webhook deliveries that were never queued,
expired export files."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import WebhookDelivery
from app.store import exports, retention
from app.worker.alerting import queue_webhook

log = logging.getLogger(__name__)
# A delivery still pending with no attempt after this long lost its queued message.
STALE_DELIVERY = timedelta(minutes=10)


def maintain(batch_rows: int) -> dict:
    """Run retention for every app (a failure is logged and the others go on); requeue
    stale deliveries. Return the events deleted per app and the deliveries requeued."""
    deleted = {}
    for app_id in retention.apps_with_events():
        try:
            removed = retention.delete_expired(app_id, batch_rows)
        except Exception:
            db.session.rollback()
            log.exception("retention of app %s failed; the next run tries again", app_id)
            continue
        if removed:
            deleted[str(app_id)] = removed
    stale = list(
        db.session.scalars(
            select(WebhookDelivery.id).where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.attempts == 0,
                WebhookDelivery.created_at < datetime.now(UTC) - STALE_DELIVERY,
            )
        )
    )
    db.session.rollback()
    for delivery_id in stale:
        queue_webhook(delivery_id)
    return {
        "deleted": deleted,
        "requeued_deliveries": len(stale),
        "expired_exports": exports.remove_expired_exports(),
    }
