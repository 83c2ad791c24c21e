"""Publish storage tasks to a Redis broker with one LPUSH per message.

Celery's `send_task` spends about 1 ms of CPU per message (header building, kombu's
channel machinery, a new Redis client object per publish). The ingest path publishes on
every request, so with a Redis broker it writes the very message `send_task` would write
(Celery task protocol 2 in kombu's Redis envelope) for about a quarter of the CPU.
`tests/test_redis_publisher.py` checks the two messages match field by field and that a
real worker runs what this module publishes. Other brokers keep using `send_task`; with
RabbitMQ, publisher confirms are on (celery_config), so a publish returns only once the
broker has the message, and a nacked or failed publish is tried again a few times
(`ConfirmedSender`) before the caller falls back to its degraded path.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

import orjson
import redis
from amqp.exceptions import AMQPError, MessageNacked
from celery import Celery
from kombu.exceptions import KombuError
from redis.backoff import NoBackoff
from redis.retry import Retry

from celery_config import PUBLISH_RETRY_POLICY

log = logging.getLogger(__name__)

Send = Callable[[str, tuple, str, str], None]

# Embedded workflow options of a plain task: no callbacks, no chain, no chord.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
# One quick reconnect, then the caller's degraded path: never keep a client waiting.
_SOCKET_TIMEOUT_SECONDS = 2.0


class RedisTaskPublisher:
    """Writes Celery protocol-2 task messages straight onto a kombu Redis queue."""

    def __init__(self, celery_app: Celery, url: str, key_prefix: str = "") -> None:
        self.celery_app = celery_app
        self.key_prefix = key_prefix
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=_SOCKET_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
        )
        self._origin_pid: int | None = None
        self._origin = ""
        self._queues: dict[str, str] = {}

    def send(self, task_name: str, args: tuple, task_id: str, argsrepr: str) -> None:
        """Push one task message onto the queue its name is routed to."""
        queue = self.queue_for(task_name)
        self.client.lpush(
            f"{self.key_prefix}{queue}",
            orjson.dumps(self.message(task_name, args, task_id, argsrepr, queue)),
        )

    def queue_for(self, task_name: str) -> str:
        """The queue Celery's router sends `task_name` to (from celery_config's routes)."""
        if task_name not in self._queues:
            route = self.celery_app.amqp.router.route({}, task_name)
            self._queues[task_name] = route["queue"].name
        return self._queues[task_name]

    def message(self, task_name: str, args: tuple, task_id: str, argsrepr: str, queue: str):
        """The dict kombu's Redis transport stores for `send_task(task_name, args)`."""
        body = orjson.dumps([list(args), {}, _EMBED])
        return {
            "body": base64.b64encode(body).decode("ascii"),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": task_name,
                "id": task_id,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [None, None],
                "root_id": task_id,
                "parent_id": None,
                "argsrepr": argsrepr,
                "kwargsrepr": "{}",
                "origin": self._origin_name(),
                "ignore_result": None,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": self.celery_app.thread_oid,
                "argsrepr": argsrepr,
                "kwargsrepr": "{}",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }

    def _origin_name(self) -> str:
        # Celery's anon_nodename(); recomputed after a fork so each process names itself.
        if self._origin_pid != os.getpid():
            self._origin_pid = os.getpid()
            self._origin = f"gen{self._origin_pid}@{socket.gethostname()}"
        return self._origin


def task_sender(celery_app: Celery) -> Send:
    """Return send(task_name, args, task_id, argsrepr) for this app's broker."""
    url = celery_app.conf.broker_write_url or celery_app.conf.broker_url or ""
    with celery_app.connection_for_write() as connection:
        driver = connection.transport.driver_type
        options = dict(connection.transport_options or {})
    if driver == "redis" and url.startswith(("redis://", "rediss://")):
        return RedisTaskPublisher(celery_app, url, options.get("global_keyprefix", "")).send
    if driver == "amqp":
        return ConfirmedSender(celery_app)
    return _celery_sender(celery_app)


def _celery_sender(celery_app: Celery) -> Send:
    def send(task_name: str, args: tuple, task_id: str, argsrepr: str) -> None:
        celery_app.send_task(
            task_name,
            args=args,
            task_id=task_id,
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
            argsrepr=argsrepr,
            kwargsrepr="{}",
        )

    return send


class ConfirmedSender:
    """`send_task` to RabbitMQ with publisher confirms, tried again when a publish fails.

    When the node leading a quorum queue dies, a new leader is elected within 0.2-0.3 s
    (measured); a publish in that window is nacked or fails (Celery raised
    `OperationalError('')`), and Celery's own `retry=True` does not retry a nack. Waits of
    0.1 + 0.2 + 0.4 s cover the election, then the caller stores the events itself. A
    publish that failed after the broker kept it is sent twice: storage keeps the first
    copy of each client eventId and drops the second.
    """

    RETRY_WAITS = (0.1, 0.2, 0.4)
    ERRORS = (MessageNacked, AMQPError, KombuError, OSError)

    def __init__(self, celery_app: Celery) -> None:
        self.send_once = _celery_sender(celery_app)

    def __call__(self, task_name: str, args: tuple, task_id: str, argsrepr: str) -> None:
        for wait in (*self.RETRY_WAITS, None):
            try:
                self.send_once(task_name, args, task_id, argsrepr)
                return
            except self.ERRORS as exc:
                if wait is None:
                    raise
                log.warning("publish of %s failed (%r); again in %.1f s", task_id, exc, wait)
                time.sleep(wait)
