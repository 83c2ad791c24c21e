"""Per-app ingest rate limits, counted in Redis so they hold across every web process."""

from __future__ import annotations

import logging
import time

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.api.errors import ApiError
from app.registry import AppEntry

log = logging.getLogger(__name__)

# After a storage failure, skip limiting for this long instead of failing every request.
OUTAGE_BACKOFF_SECONDS = 1.0


class IngestRateLimiter:
    def __init__(self, storage_uri: str, default_limit: str) -> None:
        options = {}
        if storage_uri.startswith("redis"):
            options = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
        self.limiter = FixedWindowRateLimiter(storage_from_string(storage_uri, **options))
        self.default_limit = parse(default_limit)
        self._skip_until = 0.0

    def hit(self, entry: AppEntry) -> int | None:
        """Count one request; return seconds to wait when over the limit, else None."""
        if time.monotonic() < self._skip_until:
            return None
        limit: RateLimitItem = entry.rate_limit or self.default_limit
        try:
            if self.limiter.hit(limit, "ingest", entry.id):
                return None
            reset_at, _remaining = self.limiter.get_window_stats(limit, "ingest", entry.id)
        except Exception:  # the limit store is optional: never refuse events because it is down
            self._skip_until = time.monotonic() + OUTAGE_BACKOFF_SECONDS
            log.warning("rate-limit storage unavailable; not limiting for now", exc_info=True)
            return None
        return max(1, int(reset_at - time.time() + 0.999))


def check_rate_limit(entry: AppEntry) -> None:
    """Raise 429 with Retry-After when the app is over its ingest rate."""
    wait = current_app.extensions["ingest_rate_limiter"].hit(entry)
    if wait is not None:
        raise ApiError(429, "rate_limited", "this app's ingest rate limit is exceeded", wait)
