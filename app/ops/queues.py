"""What waits in the broker: queue depths, unacknowledged messages, parked and set-aside
records. Read by /health, the system page and the metrics, each call bounded in time.

With a Redis broker everything is read with one pipeline: a queue is one list
(`priority_steps` is [0]), kombu keeps unacknowledged messages in the `unacked` hash and
their delivery times in the `unacked_index` sorted set, parked records wait on
`dead_letter`, and messages no worker could read on `lvd.unreadable:<queue>`. Ages are
measured against the Redis server's clock (`TIME`), not this host's. Other brokers report
what kombu can tell (queue depths), and None for the rest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import urlparse

import redis
from celery import Celery

from celery_config import DEAD_LETTER_QUEUE, WORKER_POOLS

UNACKED_KEY = "unacked"
UNACKED_INDEX_KEY = "unacked_index"
UNREADABLE_PREFIX = "lvd.unreadable"  # the same prefix as worker/transport/kombu_redis.py writes


@dataclass
class QueueStatus:
    depths: dict[str, int | None]  # queue -> messages waiting
    unacked: int | None  # messages delivered to a worker and not yet acknowledged
    oldest_unacked_seconds: float | None  # age of the oldest of them
    dead_letter: int | None  # batches parked after their retries ran out
    set_aside: dict[str, int] | None  # queue -> unreadable messages set aside

    def as_dict(self) -> dict:
        return asdict(self)


def queue_status(celery_app: Celery, timeout: float = 1.0) -> QueueStatus:
    """Read the broker's queues; raise the broker's error when it does not answer."""
    url = celery_app.conf.broker_read_url or celery_app.conf.broker_url or ""
    if urlparse(url).scheme in ("redis", "rediss"):
        return _redis_status(url, timeout)
    return _kombu_status(celery_app, timeout)


def _redis_status(url: str, timeout: float) -> QueueStatus:
    queues = [queue for queue, _default, _env in WORKER_POOLS.values()]
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.time()
            for queue in queues:
                pipe.llen(queue)
            pipe.hlen(UNACKED_KEY)
            pipe.zrange(UNACKED_INDEX_KEY, 0, 0, withscores=True)
            pipe.llen(DEAD_LETTER_QUEUE)
            for queue in queues:
                pipe.llen(f"{UNREADABLE_PREFIX}:{queue}")
            answers = pipe.execute()
    finally:
        client.close()
    (seconds, microseconds), answers = answers[0], answers[1:]
    now = seconds + microseconds / 1e6
    depths, answers = answers[: len(queues)], answers[len(queues) :]
    unacked, oldest, dead_letter, *set_aside = answers
    return QueueStatus(
        depths=dict(zip(queues, depths, strict=True)),
        unacked=unacked,
        oldest_unacked_seconds=round(max(0.0, now - oldest[0][1]), 3) if oldest else None,
        dead_letter=dead_letter,
        set_aside=dict(zip(queues, set_aside, strict=True)),
    )


def _kombu_status(celery_app: Celery, timeout: float) -> QueueStatus:
    depths: dict[str, int | None] = {}
    with celery_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)
        channel = connection.default_channel
        for queue in [*(q for q, _d, _e in WORKER_POOLS.values()), DEAD_LETTER_QUEUE]:
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except connection.channel_errors:  # not declared yet: nothing waits there
                channel = connection.channel()
                depths[queue] = 0
    dead_letter = depths.pop(DEAD_LETTER_QUEUE)
    return QueueStatus(
        depths=depths,
        unacked=None,
        oldest_unacked_seconds=None,
        dead_letter=dead_letter,
        set_aside=None,
    )
