"""Celery tasks: thin wrappers that unpack JSON arguments and own retries."""

from __future__ import annotations

import logging

import orjson
from celery import Task, shared_task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from app.store.events import store_events
from app.worker import dead_letter
from app.worker.mail import MAIL_MAX_RETRIES, build_message, deliver, is_transient
from celery_config import (
    SEND_EMAIL_TASK,
    STORAGE_MAX_RETRIES,
    STORAGE_RETRY_BACKOFF,
    STORE_BATCH_TASK,
    STORE_EVENT_TASK,
)

log = logging.getLogger(__name__)


# Small storage messages are stored several at a time (app/storage_batching.py).
GROUPED = "app.worker.celery_grouping:grouped"


@shared_task(name=STORE_EVENT_TASK, bind=True, max_retries=STORAGE_MAX_RETRIES, Strategy=GROUPED)
def process_event_async(self: Task, record: dict) -> dict:
    """Store one validated event."""
    return _store_or_retry(self, [record])


@shared_task(name=STORE_BATCH_TASK, bind=True, max_retries=STORAGE_MAX_RETRIES, Strategy=GROUPED)
def process_event_batch(self: Task, records: list[dict] | str) -> dict:
    """Store a batch of validated events in one transaction.

    `records` is a list, or the same list as JSON text (`ingest.publish.pack_records`).
    """
    return _store_or_retry(self, unpack_records(records))


def unpack_records(records: list[dict] | str) -> list[dict]:
    """The records of a batch message, whichever form it carries them in."""
    return orjson.loads(records) if isinstance(records, str) else records


def _store_or_retry(task: Task, records: list[dict]) -> dict:
    try:
        stored = store_events(records)
    except (SQLAlchemyError, SoftTimeLimitExceeded) as exc:
        if task.request.retries >= task.max_retries:
            try:
                dead_letter.park(task.app, records, task.name, exc)
            except Exception as park_error:
                # Could not park them either: hand the message back rather than ack it.
                raise Reject(park_error, requeue=True) from exc
            return {"received": len(records), "stored": 0, "dead_lettered": len(records)}
        countdown = STORAGE_RETRY_BACKOFF * 2**task.request.retries
        log.warning("storage failed (%s); retry in %.1fs", exc, countdown)
        raise task.retry(exc=exc, countdown=countdown) from exc
    return {"received": len(records), "stored": stored, "duplicates": len(records) - stored}


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
        countdown = config["MAIL_RETRY_BACKOFF"] * 2**self.request.retries
        log.warning("mail to %s failed (%s); retry in %.1fs", email, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
    return {"sent": True, "to": email, "via": where}
