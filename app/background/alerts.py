"""Who gets first-seen violation alerts and digests, and which groups are still to alert.

A group is claimed once: `claim_new_groups` sets its `alerted_at` in the UPDATE that
selects it, so two runs at once cannot both claim it. Its mails and webhook deliveries
are recorded in that same transaction and queued after the commit, at least once
(background/alert_outbox.py: the hourly maintenance queues what a failure left behind).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.background import alert_outbox
from app.background.webhooks import add_delivery
from app.extensions import db
from app.mail import notifications
from app.models import App, ErrorGroup, Membership, NotificationChoice, User
from app.models.types import rfc3339

# Only groups first seen this recently are alerted: a first rollup over months of
# history (a backfill) must not mail every old group at once. A day, so that a group
# first seen while the workers were down (its events stored late, rolled up by the
# hourly run) is still alerted once the backlog is stored.
ALERT_LOOKBACK = timedelta(hours=24)
KINDS = ("alerts", "digest")
FIRST_SEEN_EVENT = "violation.first_seen"


def set_choice(app_id: uuid.UUID, user_id: int, kind: str, enabled: bool) -> None:
    """Turn a member's alerts or digest of an app on or off."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    choice = db.session.get(NotificationChoice, (user_id, app_id))
    if choice is None:
        choice = NotificationChoice(user_id=user_id, app_id=app_id, alerts=False, digest=False)
        db.session.add(choice)
    setattr(choice, kind, enabled)
    db.session.commit()


def choice_of(app_id: uuid.UUID, user_id: int) -> dict[str, bool]:
    """{"alerts": bool, "digest": bool} for a member (both off until they opt in)."""
    choice = db.session.get(NotificationChoice, (user_id, app_id))
    return {kind: bool(choice and getattr(choice, kind)) for kind in KINDS}


def recipients(app_id: uuid.UUID, kind: str) -> list[str]:
    """Emails of the app's current members who opted in to `kind`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    query = (
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .join(
            NotificationChoice,
            (NotificationChoice.user_id == User.id) & (NotificationChoice.app_id == app_id),
        )
        .where(Membership.app_id == app_id, getattr(NotificationChoice, kind).is_(True))
        .order_by(User.email)
    )
    return list(db.session.scalars(query))


def claim_new_groups(
    app_id: uuid.UUID, now: datetime | None = None
) -> tuple[list[dict], list[int], list[int]]:
    """Mark the app's not yet alerted, recently first seen groups as alerted, and record a
    webhook delivery for each and the alert mail of each opted-in member; commit. Return
    the groups, the delivery ids and the mail ids."""
    now = now or datetime.now(UTC)
    table = ErrorGroup.__table__
    try:
        rows = db.session.execute(
            update(table)
            .where(
                table.c.app_id == app_id,
                table.c.alerted_at.is_(None),
                table.c.first_seen >= now - ALERT_LOOKBACK,
            )
            .values(alerted_at=now)
            .returning(
                table.c.id,
                table.c.event_name,
                table.c.schema_version,
                table.c.path,
                table.c.keyword,
                table.c.count,
                table.c.first_seen,
                table.c.example_event_id,
            )
        ).all()
        groups = sorted((_group_dict(row) for row in rows), key=lambda g: g["id"])
        deliveries = [
            delivery
            for group in groups
            if (delivery := add_delivery(app_id, FIRST_SEEN_EVENT, {"group": group}, group["id"]))
        ]
        mails = _record_mails(app_id, groups) if groups else []
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return groups, deliveries, mails


def _record_mails(app_id: uuid.UUID, groups: list[dict]) -> list[int]:
    """Render and record one alert mail per opted-in member (in the claim's transaction)."""
    app = db.session.get(App, app_id)
    links = app_links(app_id)
    shown = with_example_links(app_id, groups)
    subject = f"{app.name}: {len(groups)} new validation error{'s' if len(groups) > 1 else ''}"
    context = {
        "app_name": app.name,
        "groups": shown,
        "opt_out_link": links["opt_out_alerts"],
        **links,
    }
    html_body, text_body = notifications.render("violation_alert", context)
    return [
        alert_outbox.record_mail(app_id, email, subject, html_body, text_body)
        for email in recipients(app_id, "alerts")
    ]


def _group_dict(row) -> dict:
    return {
        "id": row.id,
        "event_name": row.event_name,
        "schema_version": row.schema_version or None,
        "path": row.path,
        "keyword": row.keyword,
        "count": row.count,
        "first_seen": rfc3339(row.first_seen),
        "example_event_id": str(row.example_event_id),
    }


log = logging.getLogger(__name__)


def alert_new_groups(app_id: uuid.UUID) -> dict:
    """Claim the app's new error groups, then queue one mail per opted-in member and one
    webhook POST per group; return what was queued (the rest is queued by maintenance)."""
    groups, deliveries, mails = claim_new_groups(app_id)
    if not groups:
        return {"groups": 0, "mails": 0, "webhooks": 0}
    mailed = sum(alert_outbox.queue_mail(mail_id) for mail_id in mails)
    posted = sum(alert_outbox.queue_webhook(delivery_id) for delivery_id in deliveries)
    return {"groups": len(groups), "mails": mailed, "webhooks": posted}


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
