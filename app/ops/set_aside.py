"""What waits outside the queues on a Redis broker, and how an operator empties it.

Two lists hold messages no worker will take by itself: `dead_letter` (batches parked
after their storage retries ran out; `flask events replay-failed` stores them) and
`lvd.unreadable:<queue>` (messages a worker could not read, set aside by
`worker/transport/kombu_redis.py`). `flask events set-aside` shows both; an unreadable message can
be put back on its queue (e.g. after an upgrade that reads it) or discarded, and so can
parked batches.
"""

from __future__ import annotations

import base64
from collections import Counter
from urllib.parse import urlparse

import orjson
import redis

from celery_config import DEAD_LETTER_QUEUE, WORKER_POOLS

UNREADABLE_PREFIX = "lvd.unreadable"  # the same prefix as worker/transport/kombu_redis.py writes
PREVIEW_BYTES = 200


class NotRedis(ValueError):
    """The broker is not Redis: set-aside lists exist only there."""


def _client(broker_url: str) -> redis.Redis:
    if urlparse(broker_url).scheme not in ("redis", "rediss"):
        raise NotRedis(f"set-aside lists live on a Redis broker; this one is {broker_url!r}")
    return redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)


def unreadable_key(queue: str) -> str:
    if queue not in {q for q, _default, _env in WORKER_POOLS.values()}:
        raise ValueError(f"unknown queue {queue!r}")
    return f"{UNREADABLE_PREFIX}:{queue}"


def inspect(broker_url: str) -> dict:
    """Counts, the errors of parked batches, and a preview of each unreadable message."""
    client = _client(broker_url)
    try:
        parked = [_parked_payload(raw) for raw in client.lrange(DEAD_LETTER_QUEUE, 0, -1)]
        unreadable = {
            queue: client.lrange(unreadable_key(queue), 0, -1)
            for queue, _default, _env in WORKER_POOLS.values()
        }
    finally:
        client.close()
    errors = Counter(payload.get("error", "unreadable") for payload in parked)
    return {
        "dead_letter": {
            "batches": len(parked),
            "events": sum(len(payload.get("records", [])) for payload in parked),
            "errors": dict(errors.most_common()),
            "oldest_failed_at": min(
                (p["failed_at"] for p in parked if "failed_at" in p), default=None
            ),
        },
        "unreadable": {
            queue: {
                "messages": len(raws),
                "previews": [raw[:PREVIEW_BYTES].decode(errors="replace") for raw in raws[:10]],
            }
            for queue, raws in unreadable.items()
        },
    }


def requeue_unreadable(broker_url: str, queue: str) -> int:
    """Move every set-aside message of a queue back to it (oldest first); return how many."""
    client = _client(broker_url)
    key, moved = unreadable_key(queue), 0
    try:
        # Set aside with LPUSH, so the oldest is on the right; the queue's consuming end
        # is its right too: each goes to the back of the line, in its original order.
        while client.lmove(key, queue, "RIGHT", "LEFT") is not None:
            moved += 1
    finally:
        client.close()
    return moved


def discard(broker_url: str, key: str) -> int:
    """Delete a set-aside list (`dead_letter` or an unreadable list); return its length."""
    client = _client(broker_url)
    try:
        with client.pipeline() as pipe:
            pipe.llen(key)
            pipe.delete(key)
            length, _deleted = pipe.execute()
    finally:
        client.close()
    return length


def _parked_payload(raw: bytes) -> dict:
    """The payload of a parked batch (kombu's envelope, body base64-encoded)."""
    try:
        envelope = orjson.loads(raw)
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        payload = orjson.loads(body)
        return payload if isinstance(payload, dict) else {}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return {}
