"""The benchmark's PostgreSQL database and Redis databases: reset, count, purge."""

from __future__ import annotations

import psycopg2
import redis
from sqlalchemy.engine import make_url

from bench.settings import Settings

# kombu's Redis transport keeps a queue as one list per priority step (0 is the bare name).
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
UNACKED_KEYS = ("unacked", "unacked_index", "unacked_mutex")


def _connect(url: str, dbname: str | None = None):
    target = make_url(url)
    return psycopg2.connect(
        host=target.host,
        port=target.port or 5432,
        user=target.username,
        password=target.password,
        dbname=dbname or target.database,
    )


def recreate_database(url: str) -> None:
    """Drop and create the database named by `url` (its sessions are ended first)."""
    name = make_url(url).database
    admin = _connect(url, "postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()


class Database:
    """Counts of stored events, read on an autocommit connection."""

    def __init__(self, url: str) -> None:
        self.conn = _connect(url)
        self.conn.autocommit = True

    def _one(self, sql: str) -> int:
        with self.conn.cursor() as cursor:
            cursor.execute(sql)
            return int(cursor.fetchone()[0] or 0)

    def stored_events(self) -> int:
        """Rows in `events` (exact; scans the table)."""
        return self._one("SELECT count(*) FROM events")

    def counted_events(self) -> int:
        """The per-minute counters' total: equal to the rows, as they are written in the
        same transaction, and cheap to read while a large table fills."""
        return self._one("SELECT coalesce(sum(count), 0) FROM event_counts")

    def truncate_events(self) -> None:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "TRUNCATE events, event_counts, rollup_hourly, rollup_daily, error_group_hourly"
            )

    def close(self) -> None:
        self.conn.close()


class Broker:
    """The broker's and result store's Redis databases."""

    def __init__(self, settings: Settings) -> None:
        self.broker = redis.Redis.from_url(settings.broker_url)
        self.results = redis.Redis.from_url(settings.results_url)
        self.limits = redis.Redis.from_url(settings.limits_url)

    def flush_all(self) -> None:
        """Empty the three databases; only while no process of the stack is running."""
        for client in (self.broker, self.results, self.limits):
            client.flushdb()

    def queued(self, queue: str) -> int:
        """Messages waiting in `queue`."""
        return sum(self.broker.llen(queue + suffix) for suffix in PRIORITY_SUFFIXES)

    def unacked(self) -> int:
        """Messages delivered to a worker and not yet acknowledged."""
        return int(self.broker.hlen("unacked"))

    def purge(self, queues: list[str]) -> int:
        """Delete the queued and unacknowledged messages of `queues` and every task result.

        Only these keys: the rest of the broker database (kombu's bindings, the workers'
        control mailboxes) stays as the running processes left it.
        """
        keys = [q + suffix for q in queues for suffix in PRIORITY_SUFFIXES]
        dropped = sum(self.broker.llen(key) for key in keys)
        self.broker.delete(*keys, *UNACKED_KEYS)
        self.results.flushdb()
        return dropped
