"""The mail task (`emails` and `emails_priority` pools): deliver one mail, own retries."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from flask import current_app

from app.mail.delivery import MAIL_MAX_RETRIES, build_message, deliver, is_transient
from celery_config import SEND_EMAIL_TASK, backoff_seconds

log = logging.getLogger(__name__)


@shared_task(name=SEND_EMAIL_TASK, bind=True, max_retries=MAIL_MAX_RETRIES)
def send_email_async(
    self: Task, email: str, subject: str, html_body: str, text_body: str | None = None
) -> dict:
    """Send one email; retry connection failures with backoff, give up on permanent refusals."""
    config = current_app.config
    message = build_message(config["MAIL_DEFAULT_SENDER"], email, subject, html_body, text_body)
    try:
        where = deliver(message, config)
    except OSError as exc:  # smtplib's errors are OSErrors too
        if not is_transient(exc):
            log.error("mail to %s refused permanently: %s", email, exc)
            return {"sent": False, "error": str(exc)}
        if self.request.retries >= self.max_retries:
            log.error("mail to %s not sent after %d retries: %s", email, self.max_retries, exc)
            raise
        countdown = backoff_seconds(config["MAIL_RETRY_BACKOFF"], self.request.retries)
        log.warning("mail to %s failed (%s); retry in %.1fs", email, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
    return {"sent": True, "to": email, "via": where}
