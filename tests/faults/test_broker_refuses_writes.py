"""The broker refuses writes while storage fails: a retry that cannot be published is not
dropped.

Celery turns a failed publish inside `retry()` into a rejection without requeue, which
drops the message. With the database locked (every store fails after the lock timeout)
and the test-owned Redis refusing `LPUSH` (how every retry and requeue is written), the
storage tasks must leave their messages in the broker; once Redis and the database are
back, every accepted event is stored exactly once (after `flask events replay-failed`
for whatever was parked).
"""

from __future__ import annotations

import redis

from tests.faults.scenario import (
    assert_stored_exactly_once,
    broker_is_empty,
    database_name,
    post_events,
    replay_failed,
    row_count,
    scenario_app,
)
from tests.support.databases import admin_connection
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.processes import WorkerPool, wait_for


def test_retry_publish_refused_keeps_the_message(app, private_redis, make_tracked_app):
    broker_url = private_redis.url
    results_url = broker_url.rsplit("/", 1)[0] + "/1"
    broker = redis.Redis.from_url(broker_url)
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    with scenario_app(app, broker_url, results_url) as fault_app:
        accepted = post_events(fault_app.test_client(), tracked, "norepub", 1, 20, 10)
        worker = WorkerPool(
            "default",
            concurrency=2,
            env={
                "CELERY_BROKER_URL": broker_url,
                "CELERY_RESULT_BACKEND": results_url,
                "STORAGE_RETRY_BACKOFF": "0.2",
                "STORAGE_LOCK_TIMEOUT_MS": "300",
                "CELERY_CONSUMER_TTL": "4",
                "CELERY_RESTORE_INTERVAL": "1",
            },
        )
        with admin_connection(database_name()) as holder:
            holder.autocommit = False
            holder.cursor().execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            broker.execute_command("ACL", "SETUSER", "default", "-lpush")
            try:
                worker.start()
                # Several refused retries, and their refused requeues, before Redis is back.
                wait_for(lambda: worker.output().count("retry not published") >= 3, timeout=60)
            finally:
                broker.execute_command("ACL", "SETUSER", "default", "+lpush")
                holder.rollback()
        try:
            wait_for(lambda: worker.proc.poll() is not None or broker_is_empty(broker), timeout=90)
            assert worker.proc.poll() is None, worker.output()[-3000:]
        finally:
            worker.stop()
        replay_failed(fault_app)
        assert row_count(app, tracked["id"]) == len(accepted.statuses)
        assert_stored_exactly_once(app, tracked["id"], accepted)
