"""Each app's newest stored event id, kept in Redis so that an idle live poll skips PostgreSQL.

An open live page asks once a second for the events after its cursor; almost always there
are none. Storage writes the newest id of every app it stored events for, after the
commit (one EVAL per app per stored group, in the pipeline that writes the task results),
and the stream endpoint answers a poll whose cursor is at or past that id with an empty
list without a query.

The value only grows (the script keeps the larger id; UUIDv7 text orders like the ids)
and expires NEWEST_ID_TTL_SECONDS after its last raise, so a write lost after a commit
(Redis refusing writes) hides new events from a poll for at most that long. A missing
key, or a result store that is not Redis (standalone) or does not answer, means "ask
the database".
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

import redis
from flask import current_app

log = logging.getLogger(__name__)

KEY_PREFIX = "lvd:newest-event:"
NEWEST_ID_TTL_SECONDS = 120
# A poll must not wait on a stuck Redis: it falls back to the database after this long.
READ_TIMEOUT_SECONDS = 0.5
_RAISE = """
local current = redis.call('GET', KEYS[1])
if (not current) or current < ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
"""


def newest_per_app(records: Iterable[dict]) -> dict[str, str]:
    """{app_id: the largest event id} of stored records (ids as canonical UUID text)."""
    newest: dict[str, str] = {}
    for record in records:
        app_id, event_id = record["app_id"], record["id"]
        if event_id > newest.get(app_id, ""):
            newest[app_id] = event_id
    return newest


def queue_raises(pipe, newest: dict[str, str]) -> None:
    """Add to a Redis pipeline (or run on a client) one raise of the newest id per app."""
    for app_id, event_id in newest.items():
        pipe.eval(_RAISE, 1, KEY_PREFIX + app_id, event_id, NEWEST_ID_TTL_SECONDS)


def remember(backend, records: list[dict]) -> None:
    """Raise the stored apps' newest ids through a Redis result backend; log a failure."""
    client = getattr(backend, "client", None) if hasattr(backend, "store_results") else None
    if client is None or not records:
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            queue_raises(pipe, newest_per_app(records))
            pipe.execute()
    except redis.RedisError as exc:  # the key expires: polls then ask the database
        log.warning("newest event ids not recorded: %r", exc)


def nothing_after(app_id: uuid.UUID, cursor: uuid.UUID) -> bool | None:
    """True when the cursor is at or past the app's newest stored id, False when it is
    not, None when Redis does not know (no key, no Redis)."""
    client = results_store()
    if client is None:
        return False
    try:
        newest = client.get(KEY_PREFIX + str(app_id))
    except redis.RedisError:
        return False
    return None if newest is None else cursor >= uuid.UUID(newest.decode())


def seed(app_id: uuid.UUID, cursor: uuid.UUID) -> None:
    """After the database found nothing at all after `cursor`, raise the app's newest id
    to it, so that an app whose storage is idle still has one for the next polls.

    Safe beside storage's raises: the script keeps the larger id, and an event committed
    after the query raises it above the cursor. A cursor from the future is capped at
    the present: it would only make the other pages ask the database.
    """
    client = results_store()
    if client is None:
        return
    now_floor = uuid.UUID(int=(time.time_ns() // 1_000_000) << 80)
    try:
        queue_raises(client, {str(app_id): str(min(cursor, now_floor))})
    except redis.RedisError as exc:
        log.info("newest event id not seeded: %r", exc)


def results_store() -> redis.Redis | None:
    """The web process's client of the result store (None when it is not Redis)."""
    extensions = current_app.extensions
    if "newest_events_reader" not in extensions:
        backend = extensions["celery"].backend
        reader = None
        if hasattr(backend, "store_results") and hasattr(backend, "connparams"):
            params = {**backend.connparams}
            params.pop("retry_on_timeout", None)  # deprecated in redis-py; a poll never retries
            params.update(
                socket_timeout=READ_TIMEOUT_SECONDS, socket_connect_timeout=READ_TIMEOUT_SECONDS
            )
            reader = redis.Redis(**params)
        extensions["newest_events_reader"] = reader
    return extensions["newest_events_reader"]
