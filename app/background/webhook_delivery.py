"""POST a recorded webhook delivery, signed, and record the attempt's outcome.

Retried on timeouts, connection errors and 5xx answers; a 2xx delivers it; any other
answer (redirects are not followed) fails it at once. After WEBHOOK_MAX_ATTEMPTS
attempts it is marked failed. Only a message of the delivery's current retry chain
attempts it, and each attempt moves the chain's lease past its retry
(background/alert_outbox.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import requests
from sqlalchemy import select

from app.background.alert_outbox import chain_allowed, lease_after_attempt
from app.background.pinned_post import post_to_address
from app.background.webhooks import SIGNATURE_HEADER, UnsafeWebhookTarget, check_target, sign
from app.extensions import db
from app.models import AppBackgroundSettings, WebhookDelivery
from celery_config import backoff_seconds

log = logging.getLogger(__name__)
USER_AGENT = "LiveValidationDashboard-Webhook/1"


@dataclass(frozen=True)
class Attempt:
    status: str  # delivered | retrying | failed | refused; superseded: another chain's
    attempts: int
    response_code: int | None = None
    error: str | None = None
    retry_in: float | None = None  # seconds until the next attempt, when retrying

    @property
    def retry(self) -> bool:
        return self.status == "retrying"


def attempt_delivery(delivery_id: int, config: dict, chain: str | None = None) -> Attempt:
    """Make one attempt at a delivery, if `chain` is its current retry chain, and record
    it; the caller schedules any retry (in `retry_in` seconds)."""
    delivery = db.session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    )
    if delivery is None or delivery.status in ("delivered", "failed", "refused"):
        db.session.rollback()
        return Attempt(
            delivery.status if delivery else "failed", delivery.attempts if delivery else 0
        )
    if not chain_allowed(delivery, chain):
        db.session.rollback()
        log.info("webhook %s: a message of a replaced retry chain; nothing sent", delivery_id)
        return Attempt("superseded", delivery.attempts)
    settings = db.session.get(AppBackgroundSettings, delivery.app_id)
    secret = settings.webhook_secret if settings else None
    attempt = (
        _post(delivery, secret, config)
        if secret
        else Attempt("refused", delivery.attempts, error="no webhook secret")
    )
    if attempt.retry:
        retry_in = backoff_seconds(config["WEBHOOK_RETRY_BACKOFF"], attempt.attempts - 1)
        attempt = replace(attempt, retry_in=retry_in)
    now = datetime.now(UTC)
    delivery.status, delivery.attempts = attempt.status, attempt.attempts
    delivery.response_code, delivery.error = attempt.response_code, attempt.error
    delivery.last_attempt_at = now
    delivery.lease_until = lease_after_attempt(now, attempt.retry_in)
    db.session.commit()
    return attempt


def _post(delivery: WebhookDelivery, secret: str, config: dict) -> Attempt:
    tries = delivery.attempts + 1
    try:
        addresses = check_target(delivery.url, config["WEBHOOK_ALLOW_PRIVATE"])
    except UnsafeWebhookTarget as exc:
        return Attempt("refused", tries, error=str(exc)[:500])
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, body),
        "X-LVD-Delivery": str(delivery.id),
        "X-LVD-Event": delivery.kind,
    }
    last_try = tries >= config["WEBHOOK_MAX_ATTEMPTS"]
    try:
        response = post_to_address(
            delivery.url,
            addresses[0],
            data=body,
            headers=headers,
            timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        log.warning("webhook %s of app %s: %s", delivery.id, delivery.app_id, exc)
        return Attempt("failed" if last_try else "retrying", tries, error=str(exc)[:500])
    code = response.status_code
    if 200 <= code < 300:
        return Attempt("delivered", tries, code)
    if code >= 500 and not last_try:
        return Attempt("retrying", tries, code, f"HTTP {code}")
    log.warning("webhook %s of app %s failed: HTTP %s", delivery.id, delivery.app_id, code)
    return Attempt("failed", tries, code, f"HTTP {code}")
