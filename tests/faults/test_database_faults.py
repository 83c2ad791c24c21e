"""The database fails while a real `default` pool drains a backlog; nothing accepted is lost.

- Read-only (`default_transaction_read_only`, as during a failover): COPY fails with a
  psycopg2 error that is not SQLAlchemy's; every message is retried, then parked, never
  acknowledged away. Once writable, `flask events replay-failed` stores them.
- A lock held on `events`: the workers' `lock_timeout` ends each wait, far below the
  soft time limit, and the messages are retried, then parked.
- A hard time limit firing (database timeouts off, a lock held past the limit): the
  message goes back to its queue instead of being acknowledged, and is stored once the
  lock is released.

Each asserts that every event answered 202 is stored exactly once and that the counters
equal the rows.
"""

from __future__ import annotations

import threading

import pytest
import redis

from app.extensions import db
from app.worker.dead_letter import parked_count
from tests.faults.scenario import (
    assert_stored_exactly_once,
    broker_is_empty,
    database_name,
    post_events,
    replay_failed,
    row_count,
)
from tests.support.databases import admin_connection
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.processes import WorkerPool, wait_for


@pytest.fixture
def broker(fault_broker) -> redis.Redis:
    return fault_broker.client


@pytest.fixture
def worker_env(fault_broker) -> dict[str, str]:
    return fault_broker.worker_env


def forget_pooled_connections(*flask_apps) -> None:
    """Drop pooled connections opened while the database was read-only (they keep it)."""
    for flask_app in flask_apps:
        with flask_app.app_context():
            db.engine.dispose()


def test_read_only_database_parks_everything_and_replay_stores_it_once(
    app, fault_app, broker, worker_env, make_tracked_app
):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    accepted = post_events(fault_app.test_client(), tracked, "ro", 3, 20, 40)
    assert len(accepted.statuses) == 100
    worker = WorkerPool("default", concurrency=2, env=worker_env)
    name = database_name()
    with admin_connection() as admin:
        admin.cursor().execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        try:
            worker.start()
            celery_app = fault_app.extensions["celery"]
            wait_for(lambda: parked_count(celery_app) == accepted.messages, timeout=90)
            wait_for(lambda: broker_is_empty(broker), timeout=30)
            assert "ReadOnlySqlTransaction" in worker.output()
            worker.stop()
        finally:
            worker.stop()
            admin.cursor().execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            forget_pooled_connections(app, fault_app)
    assert row_count(app, tracked["id"]) == 0

    outcome = replay_failed(fault_app)
    assert outcome == {"batches": accepted.messages, "events": 100, "stored": 100}
    assert_stored_exactly_once(app, tracked["id"], accepted)


def test_lock_held_past_the_lock_timeout_parks_and_replay_stores_once(
    app, fault_app, broker, worker_env, make_tracked_app
):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    accepted = post_events(fault_app.test_client(), tracked, "lock", 2, 20, 20)
    celery_app = fault_app.extensions["celery"]
    worker = WorkerPool(
        "default", concurrency=2, env={**worker_env, "STORAGE_LOCK_TIMEOUT_MS": "300"}
    )
    with admin_connection(database_name()) as holder:
        holder.autocommit = False
        holder.cursor().execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        try:
            worker.start()
            # Without lock_timeout each COPY would wait for the hard limit (10 minutes).
            wait_for(lambda: parked_count(celery_app) == accepted.messages, timeout=90)
            wait_for(lambda: broker_is_empty(broker), timeout=30)
            assert "LockNotAvailable" in worker.output()
        finally:
            holder.rollback()
            worker.stop()

    assert replay_failed(fault_app)["events"] == len(accepted.statuses) == 60
    assert_stored_exactly_once(app, tracked["id"], accepted)


def test_hard_time_limit_requeues_instead_of_acknowledging(
    app, fault_app, broker, worker_env, make_tracked_app
):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    accepted = post_events(fault_app.test_client(), tracked, "hard", 2, 10, 10)
    env = {
        **worker_env,
        "STORAGE_SOFT_TIME_LIMIT": "1",
        "STORAGE_TIME_LIMIT": "2",
        "STORAGE_LOCK_TIMEOUT_MS": "0",  # off: only the hard limit ends the wait
        "STORAGE_STATEMENT_TIMEOUT_MS": "0",
    }
    worker = WorkerPool("default", concurrency=2, env=env)
    released = threading.Event()
    with admin_connection(database_name()) as holder:
        holder.autocommit = False
        holder.cursor().execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        try:
            worker.start()
            wait_for(
                lambda: (
                    "Hard time limit" in worker.output() or "TimeLimitExceeded" in worker.output()
                ),
                timeout=60,
            )
            wait_for(
                lambda: (
                    worker.output().count("TimeLimitExceeded")
                    + worker.output().count("Hard time limit")
                    >= 2
                ),
                timeout=60,
            )
            holder.rollback()
            released.set()
            wait_for(
                lambda: row_count(app, tracked["id"]) == 30 and broker_is_empty(broker), timeout=90
            )
            assert worker.proc.poll() is None, "the worker must survive its children's hard limits"
        finally:
            if not released.is_set():
                holder.rollback()
            worker.stop()

    assert parked_count(fault_app.extensions["celery"]) == 0
    assert_stored_exactly_once(app, tracked["id"], accepted)
