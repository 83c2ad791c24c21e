"""Long-poll waiters: one listener thread per web process wakes the requests waiting for
an app's events when storage publishes that it stored some.

Storage publishes the app's id on `live_marks.STORED_CHANNEL` in the same script that
changes the app's storage mark, after its commit. While at least one request of this
process waits, one thread holds a SUBSCRIBE to that channel and sets the
`threading.Event` of each waiter of the app named; the waiter then reads the database
again. Nothing polls: a waiter does no work between two notices. The subscription is
dropped after IDLE_SECONDS without waiters.

No lost wake-up: a waiter registers, waits until the subscription is confirmed, and only
then reads the database, so a commit it did not see publishes to a listener that hears it.
A notice lost anyway (the listener reconnecting, storage failing to reach Redis after its
commit) is caught by a re-read every RECHECK_SECONDS; without Redis at all (standalone, or
Redis down) waiters re-read every FALLBACK_SECONDS.

Each waiter is a request thread of gunicorn's gthread worker, blocked in Event.wait (no
CPU, no database connection held). TEST_API_MAX_WAITERS caps them per process, below
GUNICORN_THREADS so that ingestion keeps threads; beyond it a waiter is answered 503 with
Retry-After (docs/testing-api.md, "Capacity").
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator

import redis
from flask import Flask

from app.extensions import PerApp
from app.store.live_marks import STORED_CHANNEL, results_params

log = logging.getLogger(__name__)

RECHECK_SECONDS = 5.0
FALLBACK_SECONDS = 0.5
IDLE_SECONDS = 30.0
SUBSCRIBE_TIMEOUT_SECONDS = 1.0
RECONNECT_SECONDS = 1.0
_LISTEN_TICK_SECONDS = 1.0


class TooManyWaiters(Exception):
    """This process already holds TEST_API_MAX_WAITERS waiting requests."""


class Waiter:
    """One waiting request: sleeps until its app's events are stored or its time is up."""

    def __init__(self, notices: StoredNotices) -> None:
        self._notices = notices
        self.woken = threading.Event()

    def sleep(self, seconds: float) -> None:
        """Sleep until a notice for the app, a listener (re)connection, or `seconds`."""
        bound = RECHECK_SECONDS if self._notices.listening.is_set() else FALLBACK_SECONDS
        self.woken.wait(max(0.0, min(seconds, bound)))
        self.woken.clear()  # before the caller's read: a later notice wakes the next sleep


class StoredNotices:
    """The per-process listener of storage notices and the waiters it wakes."""

    def __init__(self, app: Flask) -> None:
        self.max_waiters = app.config["TEST_API_MAX_WAITERS"]
        self._params = results_params(app)
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = {}
        self._count = 0
        self._wanted = threading.Event()  # someone waits: the listener should subscribe
        self.listening = threading.Event()  # the subscription is confirmed
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    @property
    def waiting(self) -> int:
        """How many requests of this process wait now."""
        return self._count

    @contextlib.contextmanager
    def waiter(self, app_id: str) -> Iterator[Waiter]:
        """Register a waiter for the app (raise TooManyWaiters beyond the cap), listening."""
        waiter = Waiter(self)
        with self._lock:
            if self._count >= self.max_waiters:
                raise TooManyWaiters(self.max_waiters)
            self._count += 1
            self._waiters.setdefault(app_id, set()).add(waiter)
            self._wanted.set()
            self._start_listener()
        try:
            if self._params is not None:
                self.listening.wait(SUBSCRIBE_TIMEOUT_SECONDS)
            yield waiter
        finally:
            with self._lock:
                self._count -= 1
                group = self._waiters.get(app_id)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._waiters[app_id]

    def _start_listener(self) -> None:
        if self._params is None:
            return  # no Redis: waiters re-read every FALLBACK_SECONDS
        if self._pid != os.getpid():  # a forked copy: the parent's thread is not ours
            self._pid, self._thread = os.getpid(), None
            self.listening.clear()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._listen_forever, name="lvd-stored-notices", daemon=True
            )
            self._thread.start()

    def _listen_forever(self) -> None:
        while True:
            self._wanted.wait()
            try:
                self._listen()
            except (redis.RedisError, OSError) as exc:
                log.warning("storage notices unavailable (%r); waiters re-read the database", exc)
                self.listening.clear()
                self._wake_all()
                time.sleep(RECONNECT_SECONDS)

    def _listen(self) -> None:
        """Subscribe and wake waiters until nobody has waited for IDLE_SECONDS."""
        # The health check PINGs an idle subscription, so a dead connection is noticed.
        client = redis.Redis(**{**self._params, "health_check_interval": 10})
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(STORED_CHANNEL)
            idle_since = None
            while True:
                message = pubsub.get_message(timeout=_LISTEN_TICK_SECONDS)
                if message is not None:
                    self._handle(message)
                with self._lock:
                    if self._count:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > IDLE_SECONDS:
                        self._wanted.clear()
                        self.listening.clear()
                        return
        finally:
            with contextlib.suppress(redis.RedisError, OSError):
                pubsub.close()
            client.close()

    def _handle(self, message: dict) -> None:
        if message["type"] == "subscribe":
            self.listening.set()
            self._wake_all()  # those that slept without a listener read again now
        elif message["type"] == "message":
            data = message["data"]
            self._wake(data.decode() if isinstance(data, bytes) else str(data))

    def _wake(self, app_id: str) -> None:
        with self._lock:
            group = list(self._waiters.get(app_id, ()))
        for waiter in group:
            waiter.woken.set()

    def _wake_all(self) -> None:
        with self._lock:
            everyone = [w for group in self._waiters.values() for w in group]
        for waiter in everyone:
            waiter.woken.set()


stored_notices = PerApp("test_api_waiters", StoredNotices)
