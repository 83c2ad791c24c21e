"""Time ranges the dashboard offers, and event-id bounds for them.

Event ids are UUIDv7: their first 48 bits are the milliseconds since the epoch, and both
PostgreSQL and SQLite compare them byte by byte. A time bound therefore becomes an id
bound, and one index on (app_id, id) serves both the cursor and the time range.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class UnknownRange(ValueError):
    """A range name the dashboard does not offer."""


@dataclass(frozen=True)
class TimeRange:
    name: str
    span: timedelta
    bucket_seconds: int  # width of one point of the chart

    def start(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)) - self.span


RANGES = {
    "15m": TimeRange("15m", timedelta(minutes=15), 60),
    "1h": TimeRange("1h", timedelta(hours=1), 60),
    # Hours and days: the buckets of the hourly and daily rollups (app/store/reads/range_counts.py).
    "24h": TimeRange("24h", timedelta(hours=24), 60 * 60),
    "7d": TimeRange("7d", timedelta(days=7), 60 * 60),
    "30d": TimeRange("30d", timedelta(days=30), 24 * 60 * 60),
}


def time_range(name: str | None, default: str = "1h") -> TimeRange:
    """Return the named range, or raise UnknownRange naming the ones that exist."""
    try:
        return RANGES[name or default]
    except KeyError:
        raise UnknownRange(f"range must be one of {', '.join(RANGES)}") from None


def id_floor(moment: datetime) -> uuid.UUID:
    """Return the smallest UUIDv7 that can have been made at `moment` or later."""
    milliseconds = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(milliseconds << 80) | (0x7 << 76))


def id_time(event_id: uuid.UUID) -> datetime:
    """Return the moment encoded in a UUIDv7."""
    return datetime.fromtimestamp((event_id.int >> 80) / 1000, UTC)
