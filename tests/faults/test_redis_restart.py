"""Redis (append-only file on, `appendfsync always`) is killed and restarted mid-drain.

Events are both queued and unacknowledged when the test-owned Redis is SIGKILLed. The
worker keeps retrying its connection; once Redis is back with its data, the queue and
the unacknowledged messages (restored after the visibility timeout, 5 s here) are
stored, each event exactly once.
"""

from __future__ import annotations

import time

import redis

from tests.faults.scenario import (
    assert_stored_exactly_once,
    broker_is_empty,
    post_events,
    replay_failed,
    row_count,
    scenario_app,
)
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.processes import WorkerPool, wait_for


def test_redis_restart_with_aof_loses_nothing(app, durable_redis, make_tracked_app):
    broker_url = durable_redis.url
    results_url = broker_url.rsplit("/", 1)[0] + "/1"
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    with scenario_app(app, broker_url, results_url) as fault_app:
        accepted = post_events(fault_app.test_client(), tracked, "aof", 40, 50, 400)
        total = len(accepted.statuses)
        worker = WorkerPool(
            "default",
            concurrency=2,
            env={
                "CELERY_BROKER_URL": broker_url,
                "CELERY_RESULT_BACKEND": results_url,
                "CELERY_CONSUMER_TTL": "5",
                "CELERY_RESTORE_INTERVAL": "1",
            },
        )
        try:
            worker.start()
            broker = redis.Redis.from_url(broker_url)
            wait_for(
                lambda: row_count(app, tracked["id"]) > 0 and broker.hlen("unacked") > 0,
                timeout=60,
                interval=0.05,
            )
            queued = broker.llen("default")
            durable_redis.crash()
            assert queued > 0, "the drain ended before the crash"
            assert row_count(app, tracked["id"]) < total
            time.sleep(2)  # the worker loses its connection and retries
            durable_redis.start()
            broker = redis.Redis.from_url(broker_url)
            wait_for(
                lambda: (
                    worker.proc.poll() is not None
                    or (row_count(app, tracked["id"]) == total and broker_is_empty(broker))
                ),
                timeout=120,
                interval=0.5,
            )
            assert worker.proc.poll() is None, worker.output()[-3000:]
        finally:
            worker.stop()
        assert replay_failed(fault_app)["events"] == 0
        assert_stored_exactly_once(app, tracked["id"], accepted)
