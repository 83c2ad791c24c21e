"""A storage pool SIGKILLed five times during one drain loses nothing and stores nothing twice.

2,600 events are queued on a private Redis while no worker runs; a real `default` pool
(consumer TTL 5 s, a restore sweep every second) starts draining them and is killed --
main process and pool children at once -- as soon as it has stored more and holds
unacknowledged messages; a new pool starts after each kill. After the fifth, a last pool
finishes: every accepted event is stored exactly once and the counters equal the rows.
"""

from __future__ import annotations

from tests.faults.scenario import assert_stored_exactly_once, post_events, row_count
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.processes import WorkerPool, wait_for

RECOVERY_SECONDS = 150  # consumer TTL 5 s + restore sweep 1 s + the remaining work, with room
REPEATED_KILLS = 5


def test_pool_killed_five_times_in_one_drain_loses_nothing(
    app, fault_app, fault_broker, make_tracked_app
):
    """`kill -9` of the whole pool, five times during one drain (visibility timeout 5 s)."""
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    broker = fault_broker.client
    accepted = post_events(fault_app.test_client(), tracked, "kill9", 40, 50, 600)
    total = len(accepted.statuses)
    env = {**fault_broker.worker_env, "CELERY_CONSUMER_TTL": "5", "CELERY_RESTORE_INTERVAL": "1"}
    pools = []
    try:
        for kill in range(REPEATED_KILLS):
            before = row_count(app, tracked["id"])
            pool = WorkerPool("default", concurrency=2, env=env)
            pools.append(pool)
            pool.start()
            wait_for(
                lambda before=before: (
                    row_count(app, tracked["id"]) > before and broker.hlen("unacked")
                ),
                timeout=60,
                interval=0.05,
            )
            pool.kill_hard()
            assert row_count(app, tracked["id"]) < total, f"drained before kill {kill + 1}"
        last = WorkerPool("default", concurrency=2, env=env)
        pools.append(last)
        last.start()
        wait_for(
            lambda: (
                row_count(app, tracked["id"]) == total
                and broker.llen("default") == 0
                and broker.hlen("unacked") == 0
            ),
            timeout=RECOVERY_SECONDS,
            interval=0.5,
        )
    finally:
        for pool in pools:
            pool.stop()
    assert_stored_exactly_once(app, tracked["id"], accepted)
