"""Each app's storage mark, kept in Redis so that an idle live poll skips PostgreSQL.

An open live page asks once a second for new events; almost always there are none.
Storage changes the app's mark after every commit that stored events for it (one EVAL
per app per stored group, in the pipeline that writes the task results). A page sends
back the mark of its last answer, and while the mark is unchanged nothing was stored for
the app, whatever the filters: the poll answers an empty list without a query.

A mark follows commits, not ids: a group committed late with older ids (two storage
processes finishing out of order) changes it too, and the page, which asks for the events
after its newest row minus a look-back (`static/js/live.js`), finds them.

Marks start at a random 62-bit number and are incremented by commits, so a mark that
expired (MARK_TTL_SECONDS after its last change) or was lost with Redis is never recreated
at a value a page may still hold. The mark is read before the query, so an event committed
during the query changes it for the next poll. A change lost after a commit (Redis
refusing writes) is caught by the page, which sends no mark every FORCED_QUERY_EVERY
polls. No Redis result store (standalone) or no answer means "ask the database".

The same script publishes the app's id on STORED_CHANNEL: the test API's waiters
(app/testapi/waiters.py) wake on it instead of polling. A PUBLISH nobody listens to costs
Redis a dictionary lookup.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable

import redis
from flask import Flask, current_app

log = logging.getLogger(__name__)

KEY_PREFIX = "lvd:stored-mark:"
STORED_CHANNEL = "lvd:stored"
MARK_TTL_SECONDS = 24 * 3600
# A poll must not wait on a stuck Redis: it falls back to the database after this long.
READ_TIMEOUT_SECONDS = 0.5
# KEYS: the mark; ARGV: a random start, the expiry, the channel, the app id.
_CHANGE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('INCR', KEYS[1])
    redis.call('EXPIRE', KEYS[1], ARGV[2])
else
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
"""
_READ = """
local mark = redis.call('GET', KEYS[1])
if not mark then
    mark = ARGV[1]
    redis.call('SET', KEYS[1], mark, 'EX', ARGV[2])
end
return mark
"""


def apps_of(records: Iterable[dict]) -> set[str]:
    """The app ids of stored records."""
    return {record["app_id"] for record in records}


def queue_changes(pipe, app_ids: Iterable[str]) -> None:
    """Add to a Redis pipeline (or run on a client) one mark change (and notice) per app."""
    for app_id in sorted(app_ids):
        pipe.eval(
            _CHANGE,
            1,
            KEY_PREFIX + app_id,
            _random_start(),
            MARK_TTL_SECONDS,
            STORED_CHANNEL,
            app_id,
        )


def record_stored(backend, records: list[dict]) -> None:
    """Change the stored apps' marks through a Redis result backend; log a failure."""
    client = getattr(backend, "client", None) if hasattr(backend, "store_results") else None
    if client is None or not records:
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            queue_changes(pipe, apps_of(records))
            pipe.execute()
    except redis.RedisError as exc:  # pages still query now and then (FORCED_QUERY_EVERY)
        log.warning("live marks not changed: %r", exc)


def current(app_id: uuid.UUID) -> str | None:
    """The app's mark (created when missing); None when Redis does not answer."""
    client = results_store()
    if client is None:
        return None
    key = KEY_PREFIX + str(app_id)
    try:
        # A plain GET almost always finds it; the script (which Redis hashes on every call)
        # only creates a missing mark.
        mark = client.get(key)
        if mark is None:
            mark = client.eval(_READ, 1, key, _random_start(), MARK_TTL_SECONDS)
    except redis.RedisError:
        return None
    return mark.decode() if isinstance(mark, bytes) else str(mark)


def _random_start() -> int:
    return secrets.randbits(62)


def results_store() -> redis.Redis | None:
    """The web process's client of the result store (None when it is not Redis)."""
    extensions = current_app.extensions
    if "live_marks_reader" not in extensions:
        params = results_params(current_app)
        reader = None
        if params is not None:
            params.update(
                socket_timeout=READ_TIMEOUT_SECONDS, socket_connect_timeout=READ_TIMEOUT_SECONDS
            )
            reader = redis.Redis(**params)
        extensions["live_marks_reader"] = reader
    return extensions["live_marks_reader"]


def results_params(app: Flask) -> dict | None:
    """redis.Redis arguments for the app's Redis result store (None when it is not Redis)."""
    backend = app.extensions["celery"].backend
    if not (hasattr(backend, "store_results") and hasattr(backend, "connparams")):
        return None
    params = {**backend.connparams}
    params.pop("retry_on_timeout", None)  # deprecated in redis-py; a poll never retries
    return params
