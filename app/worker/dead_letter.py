"""Park records whose storage failed for good, and replay them later.

Parked records wait in the broker's `dead_letter` queue, which no worker consumes, so
they survive a database outage that outlasts every retry. `flask events replay-failed`
stores them once the database is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from celery import Celery

from celery_config import DEAD_LETTER_QUEUE, QUEUE_ARGUMENTS

log = logging.getLogger(__name__)


def park(celery_app: Celery, records: list[dict], task_name: str, error: BaseException) -> None:
    """Put records on the dead-letter queue (before the failed message is acknowledged)."""
    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue(DEAD_LETTER_QUEUE, queue_args=QUEUE_ARGUMENTS)
        queue.put(
            {
                "task": task_name,
                "records": records,
                "error": f"{type(error).__name__}: {error}",
                "failed_at": datetime.now(UTC).isoformat(),
            },
            serializer="json",
        )
        queue.close()
    log.error("parked %d event(s) on %s after %r", len(records), DEAD_LETTER_QUEUE, error)


def replay(celery_app: Celery, store: Callable[[list[dict]], int]) -> dict:
    """Store every parked batch; stop at the first failure, leaving it parked."""
    replayed = batches = stored = 0
    with celery_app.connection_for_read() as connection:
        queue = connection.SimpleQueue(DEAD_LETTER_QUEUE, queue_args=QUEUE_ARGUMENTS)
        try:
            while True:
                try:
                    message = queue.get(block=True, timeout=1)
                except queue.Empty:
                    break
                records = message.payload["records"]
                try:
                    stored += store(records)
                except Exception:
                    message.requeue()
                    raise
                message.ack()
                batches += 1
                replayed += len(records)
        finally:
            queue.close()
    return {"batches": batches, "events": replayed, "stored": stored}


def parked_count(celery_app: Celery) -> int:
    """Return how many batches wait on the dead-letter queue."""
    with celery_app.connection_for_read() as connection:
        queue = connection.SimpleQueue(DEAD_LETTER_QUEUE, queue_args=QUEUE_ARGUMENTS)
        try:
            return queue.qsize()
        except connection.channel_errors:  # Redis deletes an empty list: nothing parked
            return 0
        finally:
            queue.close()
