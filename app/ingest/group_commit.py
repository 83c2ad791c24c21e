"""Group commit for publishing: concurrent requests in one web process share a message.

A request hands its records over and waits. If nobody is publishing, it becomes the
leader: it takes everything waiting (its own records and those of requests that arrived
meanwhile), publishes them as one task, and wakes their owners. Requests that arrive
while a message is in flight wait for the next leader. Under load many events travel in
one message, so both the web process and the storage workers handle fewer messages;
alone, a request publishes its own records at once, with no added delay.

Like PostgreSQL's `commit_delay`, a leader may wait a moment before publishing, but only
while other requests of the process are still validating (`arriving`) and only up to
`linger` seconds: it then takes them along instead of leaving each its own message.

Every request is answered only after its records are in the broker, or (degraded) in
the database, exactly as when each request publishes for itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask

from app.extensions import PerApp
from app.ingest.shape import Shape

Publish = Callable[[list[dict], Shape], "str | None"]


class _Submission:
    __slots__ = ("records", "shape", "done", "task_id", "error", "wake")

    def __init__(self, records: list[dict], shape: Shape) -> None:
        self.records = records
        self.shape = shape
        self.done = False
        self.task_id: str | None = None
        self.error: BaseException | None = None
        # Held until the submission is done or must lead: the cheapest wake-up there is.
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupPublisher:
    """Publishes the records of concurrent requests together, one message per flush.

    Each waiting request is woken exactly once: when its records are out, or when it is
    handed the publishing. A shared condition would wake every waiter on every flush.
    """

    def __init__(self, max_records: int, linger: float = 0.0) -> None:
        self.max_records = max_records
        self.linger = linger
        self._pending: deque[_Submission] = deque()
        self._flushing = False
        self._mutex = threading.Lock()
        self._arriving = 0  # requests inside arriving() that have not handed records over
        self._lingering = False
        self._joined = threading.Condition(self._mutex)
        self._local = threading.local()

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a request that is about to hand records over; a leader may wait for it."""
        with self._mutex:
            self._arriving += 1
        self._local.counted = True
        try:
            yield
        finally:
            if self._local.counted:  # left without handing records over (refused, failed)
                with self._mutex:
                    self._arrived()

    def _arrived(self) -> None:
        """Count one arriving request out (the mutex is held)."""
        self._local.counted = False
        self._arriving -= 1
        if self._lingering:
            self._joined.notify()

    def submit(self, records: list[dict], shape: Shape, publish: Publish) -> str | None:
        """Return the task id the records travel in (None: stored directly); raise on failure.

        `publish(records, shape)` sends one message; it runs in the leader's thread.
        """
        mine = _Submission(records, shape)
        with self._mutex:
            if getattr(self._local, "counted", False):
                self._arrived()
            self._pending.append(mine)
            leading = not self._flushing
            self._flushing = True
        if not leading:
            mine.wake.acquire()
            if mine.done:
                return _outcome(mine)
        self._lead(mine, publish)
        return _outcome(mine)

    def _lead(self, mine: _Submission, publish: Publish) -> None:
        """Publish groups until `mine` is out, then hand over to the oldest waiter."""
        while True:
            with self._mutex:
                if mine.done:
                    if self._pending:
                        self._pending[0].wake.release()  # not done: it leads next
                    else:
                        self._flushing = False
                    return
                self._linger()
                group = self._take_group()
            try:
                self._flush(group, publish)
            finally:
                for submission in group:
                    if submission is not mine:
                        submission.wake.release()

    def _linger(self) -> None:
        """Wait, at most `linger` seconds, for requests still validating (mutex held)."""
        if not (self.linger and self._arriving):
            return
        deadline = time.monotonic() + self.linger
        self._lingering = True
        try:
            while self._arriving and sum(len(s.records) for s in self._pending) < self.max_records:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._joined.wait(left)
        finally:
            self._lingering = False

    def _take_group(self) -> list[_Submission]:
        """Take waiting submissions, oldest first, up to max_records (at least one)."""
        group, total = [], 0
        while self._pending:
            size = len(self._pending[0].records)
            if group and total + size > self.max_records:
                break
            group.append(self._pending.popleft())
            total += size
        return group

    @staticmethod
    def _flush(group: list[_Submission], publish: Publish) -> None:
        records = [record for submission in group for record in submission.records]
        shape = group[0].shape if len(group) == 1 else Shape.BATCH
        try:
            task_id = publish(records, shape)
        except BaseException as exc:
            for submission in group:
                submission.error = exc
                submission.done = True
            return
        for submission in group:
            submission.task_id = task_id
            submission.done = True


def _outcome(submission: _Submission) -> str | None:
    if submission.error is not None:
        raise submission.error
    return submission.task_id


def _new_group_publisher(app: Flask) -> GroupPublisher:
    return GroupPublisher(
        app.config["PUBLISH_GROUP_MAX_EVENTS"], app.config["PUBLISH_LINGER_MS"] / 1000
    )


group_publisher = PerApp("group_publisher", _new_group_publisher)
