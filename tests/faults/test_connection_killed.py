"""The worker's broker connections are killed (`CLIENT KILL TYPE normal`) during a drain.

Five kills while a real `default` pool stores a backlog from a test-owned Redis, with
messages held by the storage batcher and in the pool: the worker survives (no
acknowledgement on a closed channel escapes its event loop), reconnects, and every
accepted event is stored exactly once. Messages delivered on a killed connection come
back through the restore sweep (visibility timeout 5 s here, 60 s by default).
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

KILLS = 5


def test_client_kill_during_drain_worker_survives(app, private_redis, make_tracked_app):
    broker_url = private_redis.url
    results_url = broker_url.rsplit("/", 1)[0] + "/1"
    broker = redis.Redis.from_url(broker_url)
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    with scenario_app(app, broker_url, results_url) as fault_app:
        accepted = post_events(fault_app.test_client(), tracked, "kill", 40, 50, 400)
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
            wait_for(lambda: row_count(app, tracked["id"]) > 0, timeout=60, interval=0.05)
            stored_at_first_kill = row_count(app, tracked["id"])
            killed = 0
            for _ in range(KILLS):
                killed += broker.execute_command("CLIENT", "KILL", "TYPE", "normal")
                time.sleep(0.5)
                broker = redis.Redis.from_url(broker_url)
            assert killed >= KILLS
            assert stored_at_first_kill < total, "the drain ended before the first kill"
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
