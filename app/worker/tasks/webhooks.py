"""The webhook task, on the `emails` pool: its processes already wait on other servers."""

from __future__ import annotations

from celery import Task, shared_task
from flask import current_app

from app.background.webhook_delivery import attempt_delivery
from celery_config import WEBHOOK_TASK, backoff_seconds


@shared_task(name=WEBHOOK_TASK, bind=True, max_retries=None)
def deliver_webhook(self: Task, delivery_id: int) -> dict:
    """POST one recorded webhook delivery; retry with backoff on 5xx and timeouts."""
    config = current_app.config
    attempt = attempt_delivery(delivery_id, config)
    if attempt.retry:
        # WEBHOOK_MAX_ATTEMPTS bounds the retries: the last attempt is never "retrying".
        countdown = backoff_seconds(config["WEBHOOK_RETRY_BACKOFF"], attempt.attempts - 1)
        raise self.retry(countdown=countdown)
    return {"delivery": delivery_id, "status": attempt.status, "attempts": attempt.attempts}
