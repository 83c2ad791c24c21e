"""Which whole hours of an app the rollups hold complete, so the dashboard can read them.

A rollup run recomputes whole hours from the per-minute counters; an hour is complete
once a run covered it at least SETTLE after it ended (events still in the storage queue
then have been stored). After each run the `batch_processing` pool widens the app's
interval [from, through) of complete hours, kept in the result store's Redis (no table:
the dashboard reads one key). Hours outside it, or every hour when the key is missing
(Redis flushed, standalone's file results), are read from the per-minute counters and
the raw events instead: never an undercount, only a slower answer.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import redis

from app.store.live_marks import results_store
from app.store.rollups.compute import HOUR, as_utc, floor_hour

log = logging.getLogger(__name__)

KEY_PREFIX = "lvd:rolled-up:"
SETTLE = timedelta(minutes=2)
# Widen [from, through) by a run's [start, end) when they touch; a newer disjoint run
# replaces it (hours between were never rolled up).
_WIDEN = """
local old = redis.call('GET', KEYS[1])
local start, finish = tonumber(ARGV[1]), tonumber(ARGV[2])
if old then
    local sep = string.find(old, ':')
    local from, through = tonumber(string.sub(old, 1, sep - 1)), tonumber(string.sub(old, sep + 1))
    if start <= through and finish >= from then
        start, finish = math.min(start, from), math.max(finish, through)
    elseif finish < from then
        return
    end
end
redis.call('SET', KEYS[1], string.format('%d:%d', start, finish))
"""


def record_run(backend, app_id: uuid.UUID, start: datetime, run_at: datetime) -> None:
    """Mark the hours from `start` to the last one settled at `run_at` as complete."""
    client = getattr(backend, "client", None) if hasattr(backend, "store_results") else None
    through = floor_hour(as_utc(run_at) - SETTLE)
    start = floor_hour(start)
    if client is None or through <= start:
        return
    try:
        client.eval(
            _WIDEN, 1, KEY_PREFIX + str(app_id), int(start.timestamp()), int(through.timestamp())
        )
    except redis.RedisError as exc:  # the dashboard reads those hours from counters
        log.warning("rolled-up hours of app %s not recorded: %r", app_id, exc)


def complete_hours(app_id: uuid.UUID) -> tuple[datetime, datetime] | None:
    """The app's interval [from, through) of complete rolled-up hours, if known."""
    client = results_store()
    if client is None:
        return None
    try:
        found = client.get(KEY_PREFIX + str(app_id))
    except redis.RedisError:
        return None
    if not found:
        return None
    start, through = (int(part) for part in found.decode().split(":"))
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(through, UTC)


def hours_inside(
    rolled: tuple[datetime, datetime] | None, start: datetime, end: datetime
) -> tuple[datetime, datetime] | None:
    """The whole hours of [start, end) that are complete, or None."""
    if rolled is None:
        return None
    first = floor_hour(start)
    if first < as_utc(start):
        first += HOUR
    lo, hi = max(first, rolled[0]), min(floor_hour(end), rolled[1])
    return (lo, hi) if lo < hi else None
