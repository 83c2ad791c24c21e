"""Alert deliveries: every claimed group's mail and webhook queued at least once, and each
webhook delivery attempted by one retry chain.

The claim of new error groups records their mails (`alert_mails`, rendered) and webhook
deliveries in its own transaction; they are queued after the commit and the mails marked
queued. A publish that fails, or a process that dies between the commit and the
publish, leaves them unqueued, and the hourly maintenance queues them (`requeue_lost`).

A webhook delivery names its retry chain (`chain`, carried by every message of it) and a
lease (`lease_until`): queueing gives the first attempt FIRST_ATTEMPT_LEASE to start,
and each attempt that schedules a retry moves the lease past that retry. The maintenance
requeues only a delivery whose lease ran out, under a new chain; a message of an older
chain that turns up later attempts nothing, so one delivery never has two chains POSTing.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update

from app.background.webhooks import FIRST_ATTEMPT_LEASE
from app.celery_client import celery_client
from app.extensions import db
from app.mail.notifications import queue_rendered
from app.models import AlertMail, WebhookDelivery
from celery_config import EMAIL_PRIORITY_QUEUE, WEBHOOK_TASK

log = logging.getLogger(__name__)

# Past a scheduled retry's time, how long its chain still counts as alive.
RETRY_LEASE_MARGIN = timedelta(minutes=10)
# An alert mail still unqueued this long after its claim was never queued.
UNQUEUED_MAIL_AGE = timedelta(minutes=5)
UNFINISHED = ("pending", "retrying")


def new_chain() -> str:
    """A fresh retry chain name."""
    return secrets.token_hex(16)  # as add_delivery's first


def record_mail(
    app_id: uuid.UUID, recipient: str, subject: str, html_body: str, text_body: str
) -> int:
    """Record an alert mail in the caller's transaction; return its id."""
    mail = AlertMail(
        app_id=app_id,
        recipient=recipient,
        subject=subject,
        html_body=html_body,
        text_body=text_body,
        created_at=datetime.now(UTC),
    )
    db.session.add(mail)
    db.session.flush()
    return mail.id


def queue_mail(mail_id: int) -> bool:
    """Queue a recorded alert mail not queued yet and mark it queued; False if not queued."""
    mail = db.session.get(AlertMail, mail_id)
    if mail is None or mail.queued_at is not None:
        db.session.rollback()
        return False
    queued = queue_rendered(
        EMAIL_PRIORITY_QUEUE,
        mail.recipient,
        mail.subject,
        mail.html_body,
        mail.text_body,
        "violation_alert",
    )
    if queued:
        mail.queued_at = datetime.now(UTC)
        db.session.commit()
    else:
        db.session.rollback()
    return queued


def queue_webhook(delivery_id: int) -> bool:
    """Queue a recorded delivery's first attempt, under its chain; False if not queued."""
    chain = db.session.scalar(
        select(WebhookDelivery.chain).where(WebhookDelivery.id == delivery_id)
    )
    db.session.rollback()
    try:
        celery_client.app.send_task(WEBHOOK_TASK, args=(delivery_id, chain))
    except Exception:
        log.exception("could not queue webhook delivery %s", delivery_id)
        return False
    return True


def requeue_lost(now: datetime | None = None) -> dict:
    """Queue the alert mails never queued and the deliveries whose chain is gone."""
    now = now or datetime.now(UTC)
    mails = list(
        db.session.scalars(
            select(AlertMail.id).where(
                AlertMail.queued_at.is_(None), AlertMail.created_at < now - UNQUEUED_MAIL_AGE
            )
        )
    )
    db.session.rollback()
    requeued_mails = sum(queue_mail(mail_id) for mail_id in mails)
    requeued_deliveries = 0
    for delivery_id in _lapsed_deliveries(now):
        # A new chain, taken only if the lease is still lapsed (another run may have
        # taken it, or the chain may have attempted since we looked).
        taken = db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, _lapsed(now))
            .values(chain=new_chain(), lease_until=now + FIRST_ATTEMPT_LEASE)
        ).rowcount
        db.session.commit()
        if taken:
            requeued_deliveries += queue_webhook(delivery_id)
    return {"requeued_mails": requeued_mails, "requeued_deliveries": requeued_deliveries}


def _lapsed(now: datetime):
    return WebhookDelivery.status.in_(UNFINISHED) & or_(
        WebhookDelivery.lease_until < now,
        # Recorded before leases existed: the old rule (never attempted, 10 minutes).
        WebhookDelivery.lease_until.is_(None)
        & (WebhookDelivery.attempts == 0)
        & (WebhookDelivery.created_at < now - FIRST_ATTEMPT_LEASE),
    )


def _lapsed_deliveries(now: datetime) -> list[int]:
    found = list(db.session.scalars(select(WebhookDelivery.id).where(_lapsed(now))))
    db.session.rollback()
    return found


def chain_allowed(delivery: WebhookDelivery, chain: str | None) -> bool:
    """Whether a message of `chain` may attempt the delivery (None: a message queued before
    chains existed, for a delivery that has none)."""
    return delivery.chain == chain


def lease_after_attempt(now: datetime, retry_in: float | None) -> datetime | None:
    """The lease an attempt leaves: past its retry, or none once the delivery is finished."""
    if retry_in is None:
        return None
    return now + timedelta(seconds=retry_in) + RETRY_LEASE_MARGIN
