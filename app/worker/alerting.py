"""Queue first-seen violation alerts: mails on `emails`, webhook POSTs by task name.

Aggregation never talks to SMTP or to a webhook itself; it only queues the work.
"""

from __future__ import annotations

import logging
import uuid

from app.auth import notifications
from app.extensions import celery_client, db
from app.models import App
from app.store import alerts
from celery_config import WEBHOOK_TASK

log = logging.getLogger(__name__)


def alert_new_groups(app_id: uuid.UUID) -> dict:
    """Claim the app's new error groups and queue one mail per opted-in member and one
    webhook POST per group; return what was queued."""
    groups, deliveries = alerts.claim_new_groups(app_id)
    if not groups:
        return {"groups": 0, "mails": 0, "webhooks": 0}
    app = db.session.get(App, app_id)
    links = app_links(app_id)
    groups = with_example_links(app_id, groups)
    mailed = 0
    for email in alerts.recipients(app_id, "alerts"):
        subject = f"{app.name}: {len(groups)} new validation error{'s' if len(groups) > 1 else ''}"
        mailed += notifications.send(
            email,
            "violation_alert",
            subject,
            app_name=app.name,
            groups=groups,
            opt_out_link=links["opt_out_alerts"],
            **links,
        )
    for delivery_id in deliveries:
        queue_webhook(delivery_id)
    return {"groups": len(groups), "mails": mailed, "webhooks": len(deliveries)}


def queue_webhook(delivery_id: int) -> None:
    """Queue a recorded webhook delivery (the maintenance task requeues it if this fails)."""
    try:
        celery_client.app.send_task(WEBHOOK_TASK, args=(delivery_id,))
    except Exception:
        log.exception("could not queue webhook delivery %s", delivery_id)


def with_example_links(app_id: uuid.UUID, groups: list[dict]) -> list[dict]:
    """The groups, each with `example_link` to its example event's page when it has one."""
    return [
        {
            **group,
            "example_link": notifications.absolute(
                "dashboard.event_detail", app_id=app_id, event_id=group["example_event_id"]
            )
            if group.get("example_event_id")
            else None,
        }
        for group in groups
    ]


def app_links(app_id: uuid.UUID) -> dict[str, str]:
    """Absolute links a background mail carries: the app, its settings, the opt-outs."""
    return {
        "app_link": notifications.absolute("dashboard.show_app", app_id=app_id),
        "opt_out_alerts": notifications.absolute(
            "dashboard.notification_opt_out", app_id=app_id, kind="alerts"
        ),
        "opt_out_digest": notifications.absolute(
            "dashboard.notification_opt_out", app_id=app_id, kind="digest"
        ),
    }
