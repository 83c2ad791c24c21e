"""The webhook task, on the `emails` pool: its processes already wait on other servers."""

from __future__ import annotations

from celery import Task, shared_task
from flask import current_app

from app.background.webhook_delivery import attempt_delivery
from celery_config import WEBHOOK_TASK


@shared_task(name=WEBHOOK_TASK, bind=True, max_retries=None)
def deliver_webhook(self: Task, delivery_id: int, chain: str | None = None) -> dict:
    """POST one recorded webhook delivery; retry with backoff on 5xx and timeouts.

    `chain` names the delivery's retry chain: a message of a replaced one sends nothing.
    """
    attempt = attempt_delivery(delivery_id, current_app.config, chain)
    if attempt.retry:
        # WEBHOOK_MAX_ATTEMPTS bounds the retries: the last attempt is never "retrying".
        raise self.retry(countdown=attempt.retry_in)
    return {"delivery": delivery_id, "status": attempt.status, "attempts": attempt.attempts}
