"""Hand validated records to the `default` queue, or keep them in the database.

If the broker cannot take the records, they are stored synchronously (the degraded
path); if that fails too, the caller answers 503. Nothing is answered 202 unless it is
in the broker or in the database. Tasks are named, never imported: the web tier holds
no worker code.

In inline mode (CELERY_ENABLED=false) `send` is a `StoreInline`: the storage task's
work (store, then record the task's result) runs in the request, and the answer is the
same as when a worker does it, except that the task has already succeeded.
"""

from __future__ import annotations

import logging
import time
import uuid

import orjson
from celery import Celery, states
from flask import Flask
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from app.celery_client import celery_client
from app.ingest.group_commit import group_publisher
from app.ingest.kombu_publish import Send, task_sender
from app.ingest.shape import Shape
from app.ops import metrics
from app.ops.degraded import DegradedCounter
from app.ops.metrics import IngestRecorder
from app.store import live_marks
from app.store.events import store_events
from app.store.task_results import storage_result
from celery_config import STORE_BATCH_TASK, STORE_EVENT_TASK

log = logging.getLogger(__name__)

BROKER_ERRORS = (BrokerError, RedisError, OSError)


class StorageUnavailable(RuntimeError):
    """Neither the broker nor the database could keep the events."""


def queue_records(records: list[dict], shape: Shape) -> str | None:
    """Publish the records with those of concurrent requests (group commit); return the
    task id, or None when they were stored directly; raise StorageUnavailable."""
    send, recorder = celery_client.send, metrics.recorder()
    return group_publisher.submit(
        records,
        shape,
        lambda group, group_shape: publish_or_store(send, group, group_shape, recorder),
    )


def publish_or_store(
    send: Send, records: list[dict], shape: Shape, recorder: IngestRecorder
) -> str | None:
    """Publish the records as one task; return its id, or None when they were stored directly."""
    single = shape is Shape.SINGLE_EVENT
    task_id = records[0]["id"] if single else str(uuid.uuid4())
    task_name, args = (
        (STORE_EVENT_TASK, (records[0],))
        if single
        else (STORE_BATCH_TASK, (pack_records(records),))
    )
    try:
        started = time.perf_counter()
        send(task_name, args, task_id, f"<{len(records)} record(s)>")
        recorder.published(time.perf_counter() - started, len(records))
        recorder.accepted(records)
        return task_id
    except BROKER_ERRORS:
        log.warning("broker unavailable; storing %d event(s) synchronously", len(records))
    except Exception:  # whatever failed, the event must still be kept or refused
        log.exception("publishing failed; storing %d event(s) synchronously", len(records))
    try:
        store_events(records)
    except SQLAlchemyError as exc:
        log.error("broker and database both unavailable; refusing %d event(s)", len(records))
        raise StorageUnavailable("events could not be kept") from exc
    DegradedCounter.count += len(records)
    recorder.degraded(len(records))
    recorder.accepted(records)
    return None


def storage_sender(app: Flask, celery_app: Celery) -> Send:
    """The `send` the Celery client uses for storage messages: straight to the broker, or,
    in inline mode (CELERY_ENABLED=false), storing in the request."""
    if app.config.get("CELERY_ENABLED", True):
        return task_sender(celery_app)
    return StoreInline(celery_app)


def pack_records(records: list[dict]) -> str:
    """The records as one JSON text: what `process_event_batch` carries.

    A worker's main process decodes every task's arguments and pickles them to the pool
    child, which decodes the body again. One string argument makes both passes a copy
    instead of walking every event's payload (`worker.tasks.unpack_records` reverses it).
    """
    return orjson.dumps(records).decode()


class StoreInline:
    """Inline mode's `send`: store the records in the request and record the task's result."""

    def __init__(self, celery_app: Celery) -> None:
        self.celery_app = celery_app

    def __call__(self, task_name: str, args: tuple, task_id: str, _argsrepr: str) -> None:
        records = [args[0]] if task_name == STORE_EVENT_TASK else orjson.loads(args[0])
        stored = store_events(records)  # a failure takes the degraded path, then 503
        if stored:
            live_marks.record_stored(self.celery_app.backend, records)
        result = storage_result(records, stored)
        backend = self.celery_app.backend
        try:
            if hasattr(backend, "store_results"):  # a storage result: one SET, unpublished
                backend.store_results([(task_id, result)], states.SUCCESS)
            else:
                backend.store_result(task_id, result, states.SUCCESS)
        except Exception as exc:  # the events are stored; only GET /api/tasks misses them
            log.warning("inline mode: result of %s not recorded: %r", task_id, exc)
