"""Redis reaches `maxmemory` under `noeviction` with a backlog queued: workers keep
consuming.

The test-owned Redis is given a limit below what the backlog already uses, so every
write that needs memory (BLMOVE, the consumer keep-alive SET, new events) is refused.
A real `default` pool must not stop on the refusals: it receives by script (a pop
first, which frees memory), says why in its log, and `/health` reports the broker
refusing writes. The backlog falls, and every accepted event is stored exactly once.
"""

from __future__ import annotations

import pytest
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


def test_redis_at_maxmemory_workers_stay_up_and_backlog_drains(
    app, private_redis, make_tracked_app
):
    broker_url = private_redis.url
    results_url = broker_url.rsplit("/", 1)[0] + "/1"
    broker = redis.Redis.from_url(broker_url)
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    with scenario_app(app, broker_url, results_url) as fault_app:
        accepted = post_events(fault_app.test_client(), tracked, "oom", 30, 50, 300)
        total = len(accepted.statuses)
        queued = broker.llen("default")
        used = broker.info("memory")["used_memory"]
        broker.config_set("maxmemory-policy", "noeviction")
        broker.config_set("maxmemory", used - 64 * 1024)
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            broker.set("probe", 1)
        health = fault_app.test_client().get("/health").get_json()
        assert health["broker"]["memory"]["refuses_writes"] is True

        worker = WorkerPool(
            "default",
            concurrency=2,
            env={"CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": results_url},
        )
        try:
            worker.start()
            wait_for(lambda: broker.llen("default") < queued // 2, timeout=60, interval=0.2)
            assert "Redis refuses writes" in worker.output()
            assert worker.proc.poll() is None, worker.output()[-3000:]
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
        health = fault_app.test_client().get("/health").get_json()
        assert health["broker"]["memory"]["refuses_writes"] is False
        assert replay_failed(fault_app)["events"] == 0
        assert_stored_exactly_once(app, tracked["id"], accepted)
