"""A store slower than any age bound, on a live worker, runs once: messages are redelivered
because their consumer died, not because they are old.

Two real `default` pools drain events while a lock held on `events` keeps every COPY
waiting for 12 s: many times the keep-alive TTL (3 s), the sweep interval (1 s) and the
age bound for ownerless records (2 s; restoring by age, the transport's old behaviour,
would hand each held message to the other pool). Each message is received once, by one
pool, and every event is stored once.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import redis

from tests.faults.scenario import (
    assert_stored_exactly_once,
    broker_is_empty,
    database_name,
    post_events,
    row_count,
    scenario_app,
)
from tests.support.databases import admin_connection
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.processes import WorkerPool, wait_for

HELD_SECONDS = 12
RECEIVED = re.compile(r"Task process_event_\w+\[([0-9a-f-]+)\] received")


def test_a_store_slower_than_the_age_bounds_is_not_redelivered(
    app, private_redis, make_tracked_app
):
    broker_url = private_redis.url
    results_url = broker_url.rsplit("/", 1)[0] + "/1"
    broker = redis.Redis.from_url(broker_url)
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    env = {
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": results_url,
        "CELERY_CONSUMER_TTL": "3",
        "CELERY_RESTORE_INTERVAL": "1",
        "CELERY_VISIBILITY_TIMEOUT": "2",
        "STORAGE_LOCK_TIMEOUT_MS": "60000",  # the COPY waits for the lock, it does not fail
    }
    pools = [WorkerPool("default", concurrency=2, env=env) for _ in range(2)]
    with scenario_app(app, broker_url, results_url) as fault_app:
        accepted = post_events(fault_app.test_client(), tracked, "slow", 4, 20, 12)
        with admin_connection(database_name()) as holder:
            holder.autocommit = False
            holder.cursor().execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            try:
                for pool in pools:
                    pool.start()
                wait_for(lambda: broker.llen("default") == 0, timeout=30)
                assert broker.hlen("unacked") > 0
                time.sleep(HELD_SECONDS)  # (reading events now would wait for the lock too)
                held = Counter(task for pool in pools for task in RECEIVED.findall(pool.output()))
                assert broker.hlen("unacked") > 0  # still held, still unacknowledged
            finally:
                holder.rollback()
        try:
            wait_for(
                lambda: (
                    row_count(app, tracked["id"]) == len(accepted.statuses)
                    and broker_is_empty(broker)
                ),
                timeout=60,
            )
            received = Counter(task for pool in pools for task in RECEIVED.findall(pool.output()))
        finally:
            for pool in pools:
                pool.stop()
    assert sum(held.values()) == accepted.messages  # each received once while held
    assert len(received) == accepted.messages
    assert [task for task, times in received.items() if times > 1] == []
    assert "no consumer owns it" not in "".join(pool.output() for pool in pools)
    assert_stored_exactly_once(app, tracked["id"], accepted)
