"""Per-app ingest rate limits, counted in Redis so they hold across every web process.

A round trip to Redis per request would cost about as much as the rest of the request.
So a process reserves requests in blocks of about 1 % of the limit (`cost=block` in the
shared counter) and hands them out locally until the block is used or the window ends.
Reserved requests are counted before they are served, so the limit is never exceeded;
the price is that an app may be refused up to one unused block per process early.
Small limits (under 200 per window) are counted request by request, exactly.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from limits import RateLimitItem, parse
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.extensions import PerApp
from app.ingest.errors import ApiError
from app.ingest.registry import AppEntry

log = logging.getLogger(__name__)

# After a storage failure, skip limiting for this long instead of failing every request.
OUTAGE_BACKOFF_SECONDS = 1.0
BLOCK_FRACTION = 100  # a block is 1/100 of the limit
MAX_BLOCK = 100


@dataclass
class _Lease:
    left: int
    until: float  # epoch seconds when the window it was reserved in ends


def block_size(limit: RateLimitItem) -> int:
    """How many requests one reservation covers for this limit."""
    return max(1, min(MAX_BLOCK, limit.amount // BLOCK_FRACTION))


class IngestRateLimiter:
    def __init__(self, storage_uri: str, default_limit: str) -> None:
        options = {}
        if storage_uri.startswith("redis"):
            options = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
        self.limiter = FixedWindowRateLimiter(storage_from_string(storage_uri, **options))
        self.default_limit = parse(default_limit)
        self._skip_until = 0.0
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._lock = threading.Lock()

    def hit(self, entry: AppEntry) -> int | None:
        """Count one request; return seconds to wait when over the limit, else None."""
        if time.monotonic() < self._skip_until:
            return None
        limit: RateLimitItem = entry.rate_limit or self.default_limit
        lease_key = (entry.id, str(limit))
        if self._take_from_lease(lease_key):
            return None
        block = block_size(limit)
        try:
            if block > 1 and self.limiter.hit(limit, "ingest", entry.id, cost=block):
                window_end = self._window_end(limit, entry.id)
                with self._lock:
                    self._leases[lease_key] = _Lease(block - 1, window_end)
                return None
            # Not a whole block left (or a small limit): count this request alone.
            if self.limiter.hit(limit, "ingest", entry.id):
                return None
            reset_at, _remaining = self.limiter.get_window_stats(limit, "ingest", entry.id)
        except Exception:  # the limit store is optional: never refuse events because it is down
            self._skip_until = time.monotonic() + OUTAGE_BACKOFF_SECONDS
            log.warning("rate-limit storage unavailable; not limiting for now", exc_info=True)
            return None
        return max(1, int(reset_at - time.time() + 0.999))

    def _window_end(self, limit: RateLimitItem, app_id: str) -> float:
        """When the current window ends, to the millisecond where the store can tell.

        `get_window_stats` rounds down to whole seconds, which would end every lease of
        a per-second limit at once.
        """
        storage = self.limiter.storage
        if isinstance(storage, RedisStorage):
            key = storage.prefixed_key(limit.key_for("ingest", app_id))
            milliseconds = storage.get_connection(True).pttl(key)
            if milliseconds > 0:
                return time.time() + milliseconds / 1000
        reset_at, _remaining = self.limiter.get_window_stats(limit, "ingest", app_id)
        return reset_at

    def _take_from_lease(self, lease_key: tuple[str, str]) -> bool:
        with self._lock:
            lease = self._leases.get(lease_key)
            if lease is None or lease.left <= 0 or time.time() >= lease.until:
                return False
            lease.left -= 1
            return True


def check_rate_limit(entry: AppEntry) -> None:
    """Raise 429 with Retry-After when the app is over its ingest rate."""
    wait = ingest_limiter.hit(entry)
    if wait is not None:
        raise ApiError(429, "rate_limited", "this app's ingest rate limit is exceeded", wait)


def _new_ingest_limiter(app: Flask) -> IngestRateLimiter:
    return IngestRateLimiter(app.config["RATELIMIT_STORAGE_URI"], app.config["INGEST_RATE_LIMIT"])


ingest_limiter = PerApp("ingest_limiter", _new_ingest_limiter)
