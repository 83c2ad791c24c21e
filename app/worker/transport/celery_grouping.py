"""Worker side of storage: several storage messages, one job and one transaction.

Celery runs one task per message. For a message holding a few events, the work around
it (the hand-off to a pool child, a transaction, a result write) costs far more than
storing the events; for a big one, Celery's main process decodes the whole body and
pickles the decoded arguments to the child beside the body, which decodes it again.
The storage tasks' strategy (what the worker's main process does with their messages)
therefore holds messages back for up to STORAGE_BATCH_WAIT_MS, or until
STORAGE_BATCH_MAX_BYTES of them wait, and hands their still encoded bodies to a pool
child as one job. The child decodes them, stores every record with one COPY and one
commit, then writes each message's result. Each message is acknowledged only after
that commit.

Anything unusual takes Celery's own path, message by message:
- a retry, or a message with an ETA or an expiry;
- every message of a group whose store failed in any way (a record stored before, a
  database error, a killed child).
That path's retries, dead-lettering and exactly-once storage are unchanged. Workers
without an event loop (standalone's filesystem broker) always take that path. A message
held here and never acknowledged (the worker died) is redelivered like any other.
Held messages do not consult Celery's list of revoked task ids: nothing revokes a
storage task, and revoking one would drop accepted events.

Private Celery names it relies on, because Celery has no public API for handling several
messages as one job (listed in `worker/transport/library_versions.py`, whose test checks they
exist): a task's `Strategy` attribute and `celery.worker.strategy.default` (Celery's own
path, taken as the fallback), `celery.app.trace.LOG_RECEIVED`, the consumer's
`restart_count`, `qos.increment_eventually` / `decrement_eventually`, `timer` and `pool`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import orjson
from celery import current_app as current_celery
from celery import states
from celery.app import trace as celery_trace
from celery.worker import strategy as celery_strategy
from kombu.serialization import loads, prepare_accept_content

import celery_config
from app.store import live_marks
from app.store.events import AlreadyStored, store_all_new
from app.store.task_results import storage_result
from app.worker.tasks.storage import unpack_records

log = logging.getLogger(__name__)
_received_log = logging.getLogger(celery_strategy.__name__)

Handler = Callable[..., None]


class _Held:
    """One message held back, and what Celery's own path needs to take it over."""

    __slots__ = ("message", "body", "ack", "reject", "callbacks", "fallback", "qos", "size")

    def __init__(self, message, body, ack, reject, callbacks, fallback: Handler) -> None:
        self.size = len(message.body)
        self.message = message
        self.body = body
        self.ack = ack
        self.reject = reject
        self.callbacks = callbacks
        self.fallback = fallback
        self.qos = None  # the prefetch it holds one extra unit of, if any

    def job(self) -> tuple[str, bytes, str, str]:
        """What the pool child stores: the task id and the still encoded message body.

        The body is decoded only in the child: Celery's own path decodes it in the main
        process too, and pickles the decoded arguments to the child beside the body.
        """
        message = self.message
        return message.headers["id"], message.body, message.content_type, message.content_encoding


class StorageBatcher:
    """Collects storage messages in the worker's main process and flushes them as jobs."""

    def __init__(self, consumer, max_bytes: int, wait_seconds: float, max_held: int) -> None:
        self.consumer = consumer
        self.restart_count = consumer.restart_count
        self.max_bytes = max_bytes
        self.wait_seconds = wait_seconds
        self.max_held = max_held
        self._buffer: list[_Held] = []
        self._buffered_bytes = 0
        self._held = 0
        self._held_bytes = 0
        self._timer = None

    def offer(self, message, body, ack, reject, callbacks, fallback: Handler) -> bool:
        """Hold the message for a group job; False: it takes Celery's own path now."""
        headers = message.headers
        if (
            self.max_bytes <= 0
            or headers.get("eta")
            or headers.get("retries")
            or headers.get("expires")
        ):
            return False
        held = _Held(message, body, ack, reject, callbacks, fallback)
        if _received_log.isEnabledFor(logging.INFO):  # the line Celery's own path writes
            context = {
                "id": headers["id"],
                "name": headers["task"],
                "args": headers.get("argsrepr", ""),
                "kwargs": headers.get("kwargsrepr", ""),
                "eta": None,
            }
            _received_log.info(celery_trace.LOG_RECEIVED, context, extra={"data": context})
        if self._held < self.max_held and self._held_bytes < 8 * self.max_bytes:
            # Like an ETA task: a held message must not stop the next from arriving.
            # Past the bounds, held messages fill the pool's own prefetch instead.
            held.qos = self.consumer.qos  # replaced when the consumer reconnects
            held.qos.increment_eventually()
            self._held += 1
            self._held_bytes += held.size
        self._buffer.append(held)
        self._buffered_bytes += held.size
        if self._buffered_bytes >= self.max_bytes:
            self.flush()
        elif self._timer is None:
            self._timer = self.consumer.timer.call_after(self.wait_seconds, self.flush)
        return True

    def flush(self) -> None:
        """Hand every held message to a pool child as one job."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._buffer, self._buffered_bytes = self._buffer, [], 0
        if not group:
            return
        try:
            jobs = [held.job() for held in group]
        except Exception:  # a message without the usual fields: Celery's path reports it
            log.exception("could not read a held storage message")
            self._take_own_path(group)
            return
        self.consumer.pool.apply_async(
            store_group,
            (jobs,),
            callback=partial(self._finished, group),
            error_callback=partial(self._failed, group),
            soft_timeout=celery_config.STORAGE_SOFT_TIME_LIMIT,
            timeout=celery_config.STORAGE_TIME_LIMIT,
        )

    def _finished(self, group: list[_Held], stored: bool) -> None:
        if not stored:
            self._take_own_path(group)
            return
        errors = self.consumer.connection_errors
        for held in group:
            if not _channel_closed(held):
                held.ack(log, errors)
            self._release(held)

    def _failed(self, group: list[_Held], exc: BaseException) -> None:
        log.warning("storing %d held message(s) together failed: %r", len(group), exc)
        self._take_own_path(group)

    def _take_own_path(self, group: list[_Held]) -> None:
        for held in group:
            self._release(held)
            if _channel_closed(held):
                continue
            held.fallback(held.message, held.body, held.ack, held.reject, held.callbacks)

    def _release(self, held: _Held) -> None:
        if held.qos is not None:
            held.qos.decrement_eventually()
            held.qos = None
            self._held -= 1
            self._held_bytes -= held.size


def _channel_closed(held: _Held) -> bool:
    """True when the message's connection was lost (e.g. CLIENT KILL) after it was held.

    Closing the channel requeued its unacknowledged messages, so running this one again
    here would run it twice, and acknowledging it would fail on the closed channel.
    """
    channel = held.message.channel
    if channel is None or channel.connection is None:
        log.info(
            "held message %s came back to the queue with its lost connection",
            held.message.delivery_tag,
        )
        return True
    return False


def grouped(task, app, consumer, **kwargs) -> Handler:
    """Celery strategy of the storage tasks: hold messages for a group job."""
    fallback = celery_strategy.default(task, app, consumer, **kwargs)
    if getattr(consumer, "hub", None) is None:
        # No event loop (e.g. standalone's filesystem broker): timers would fire on
        # another thread, racing the consumer over the held messages.
        return fallback
    batcher = getattr(consumer, "storage_batcher", None)
    # One per connection, shared by both storage tasks; strategies are rebuilt when the
    # consumer reconnects, and messages held on the lost connection come back anyway.
    if batcher is None or batcher.restart_count != consumer.restart_count:
        batcher = consumer.storage_batcher = StorageBatcher(
            consumer,
            celery_config.STORAGE_BATCH_MAX_BYTES,
            celery_config.STORAGE_BATCH_WAIT_MS / 1000,
            celery_config.STORAGE_BATCH_MAX_HELD,
        )

    def task_message_handler(message, body, ack, reject, callbacks, **options) -> None:
        if not batcher.offer(message, body, ack, reject, callbacks, fallback):
            fallback(message, body, ack, reject, callbacks, **options)

    return task_message_handler


def store_group(jobs: list[tuple[str, bytes, str, str]]) -> bool:
    """Store the records of several messages in one transaction and write their results.

    Runs in a pool child. False: nothing was stored (a record was stored before, or
    storage failed) and each message must take Celery's own path.
    """
    celery_app = current_celery._get_current_object()
    accept = prepare_accept_content(celery_app.conf.accept_content)
    per_message = [
        (task_id, _records(_decode(body, content_type, encoding, accept)[0][0]))
        for task_id, body, content_type, encoding in jobs
    ]
    stored = [record for _task_id, records in per_message for record in records]
    with celery_app.flask_app.app_context():
        try:
            store_all_new(stored)
        except Exception as exc:  # any failure: each message gets its retries, then parks
            level = logging.INFO if isinstance(exc, AlreadyStored) else logging.WARNING
            log.log(level, "group of %d message(s) goes message by message: %r", len(jobs), exc)
            return False
    outcomes = [
        (task_id, storage_result(records, len(records))) for task_id, records in per_message
    ]
    backend = celery_app.backend
    app_ids = live_marks.apps_of(stored)
    try:
        if hasattr(backend, "store_results"):  # one round trip for them all
            # ...with the live pages' marks: one command per app of the group.
            backend.store_results(
                outcomes, states.SUCCESS, also=partial(live_marks.queue_changes, app_ids=app_ids)
            )
        else:
            for task_id, outcome in outcomes:
                backend.store_result(task_id, outcome, states.SUCCESS)
    except Exception as exc:
        # The events are committed: running the messages again would only fail the
        # same way. Their results stay PENDING (e.g. Redis full, refusing writes).
        log.error("results of %d stored message(s) not written: %r", len(jobs), exc)
    return True


def _decode(body: bytes, content_type: str, encoding: str, accept: set[str]) -> list:
    """A task message body: [args, kwargs, embed]. JSON is read with orjson (no typed
    values travel in storage messages), anything else by kombu."""
    if content_type == "application/json" and content_type in accept and encoding == "utf-8":
        return orjson.loads(body)
    return loads(body, content_type, encoding, accept=accept)


def _records(argument: object) -> list[dict]:
    """A storage task's argument as a list of records (one record, a list, JSON text)."""
    return [argument] if isinstance(argument, dict) else unpack_records(argument)
