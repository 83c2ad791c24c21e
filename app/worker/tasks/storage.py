"""The storage tasks (`default` pool): unpack JSON arguments, store, own retries."""

from __future__ import annotations

import logging
import time

import orjson
from celery import Task, shared_task
from celery.exceptions import Reject

from app.store import live_marks
from app.store.events import store_events
from app.store.revision import RECHECK_SECONDS, RevisionMismatch
from app.store.task_results import parked_result, storage_result
from app.worker import dead_letter
from celery_config import (
    STORAGE_MAX_RETRIES,
    STORAGE_RETRY_BACKOFF,
    STORE_BATCH_TASK,
    STORE_EVENT_TASK,
    backoff_seconds,
)

log = logging.getLogger(__name__)


# Small storage messages are stored several at a time (worker/transport/celery_grouping.py).
GROUPED = "app.worker.transport.celery_grouping:grouped"


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
    except RevisionMismatch as exc:
        # Code and database schema differ: no retry is counted and nothing is parked or
        # acknowledged; the message goes back to its queue until they match. The pause
        # keeps a requeued message from coming straight back in a busy loop.
        time.sleep(RECHECK_SECONDS)
        raise Reject(exc, requeue=True) from exc
    except Exception as exc:
        # Any storage failure, whatever its class: SQLAlchemy's errors, but also psycopg2's
        # raised straight from COPY (read-only transaction, lock or statement timeout,
        # deadlock, disk full), and the soft time limit. Retry, then park; a storage task
        # never fails with its events acknowledged away.
        if task.request.retries >= task.max_retries:
            return _park_or_requeue(task, records, exc)
        countdown = backoff_seconds(STORAGE_RETRY_BACKOFF, task.request.retries)
        log.warning("storage failed (%r); retry in %.1fs", exc, countdown)
        raise _retry_or_requeue(task, exc, countdown) from exc
    if stored:
        live_marks.record_stored(task.app.backend, records)  # for the live pages' polls
    return storage_result(records, stored)


def _park_or_requeue(task: Task, records: list[dict], exc: Exception) -> dict:
    try:
        dead_letter.park(task.app, records, task.name, exc)
    except Exception as park_error:
        # Could not park them either: hand the message back rather than ack it.
        raise Reject(park_error, requeue=True) from exc
    return parked_result(records)


def _retry_or_requeue(task: Task, exc: Exception, countdown: float) -> BaseException:
    """The exception that ends this attempt: Celery's Retry, or a requeue when the retry
    message could not be published (Celery would reject the message without requeue,
    dropping its events)."""
    try:
        return task.retry(exc=exc, countdown=countdown, throw=False)
    except Reject as refused:
        log.error("retry not published (%r); the message goes back to its queue", refused.reason)
        return Reject(refused.reason, requeue=True)
