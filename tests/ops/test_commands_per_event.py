"""Redis commands per stored event on the batch path: 5,000 events posted in batches of
100 to `/api/logs/<app>/batch` while a real `default` pool drains them, everything (the
broker, results and the web's rate-limit counters) on a Redis of the test's own, counted
with INFO commandstats. The figure is a count, the same on any machine."""

from __future__ import annotations

import redis

from tests.faults.scenario import make_event, row_count
from tests.ops.test_metered import commands_by_name
from tests.support.factories import USER_LOGIN_SCHEMA, app_with
from tests.support.processes import WorkerPool, wait_for

BATCHES = 50
BATCH_SIZE = 100
MAX_COMMANDS_PER_EVENT = 4


def _on_private_redis(private_redis) -> tuple[dict, WorkerPool]:
    """The web app's settings and a `default` pool, everything on the test's own Redis."""
    broker_url = private_redis.url
    results_url = broker_url.rsplit("/", 1)[0] + "/1"
    limits_url = broker_url.rsplit("/", 1)[0] + "/2"
    config = {
        "CELERY": {"broker_url": broker_url, "result_backend": results_url},
        "REDIS_URL": limits_url,
        "RATELIMIT_STORAGE_URI": limits_url,
    }
    pool = WorkerPool(
        "default",
        concurrency=2,
        env={"CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": results_url},
    )
    return config, pool


def test_batch_path_costs_at_most_four_redis_commands_per_stored_event(
    app, private_redis, make_tracked_app
):
    counted = redis.Redis.from_url(private_redis.url)
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    headers = {"X-API-Key": tracked["key"]}
    config, pool = _on_private_redis(private_redis)
    with app_with(app, config) as web:
        client = web.test_client()
        try:
            pool.start()
            counted.config_resetstat()
            for batch in range(BATCHES):
                events = [make_event("per-event", batch * BATCH_SIZE + i) for i in range(100)]
                answer = client.post(
                    f"/api/logs/{tracked['id']}/batch", json={"events": events}, headers=headers
                )
                assert answer.status_code == 202, answer.get_json()
            stored = BATCHES * BATCH_SIZE
            wait_for(lambda: row_count(app, tracked["id"]) == stored, timeout=120)
            wait_for(lambda: counted.hlen("unacked") == 0, timeout=30)
            used = commands_by_name(counted)
        finally:
            pool.stop()
    per_event = sum(used.values()) / stored
    print(f"batch path: {sum(used.values())} commands for {stored} events -> {per_event:.3f}")
    print("by command:", dict(sorted(used.items(), key=lambda kv: -kv[1])))
    assert per_event <= MAX_COMMANDS_PER_EVENT, used


def test_acknowledgements_of_a_wake_up_share_three_commands(app, private_redis, make_tracked_app):
    """A backlog of single-event messages: the storage pool acknowledges a whole batch with
    one ZREM, one HDEL and one SREM, not three commands per message."""
    counted = redis.Redis.from_url(private_redis.url)
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    config, pool = _on_private_redis(private_redis)
    events = 600
    with app_with(app, config) as web:
        client = web.test_client()
        for number in range(events):
            answer = client.post(
                f"/api/logs/{tracked['id']}",
                json=make_event("acks", number),
                headers={"X-API-Key": tracked["key"]},
            )
            assert answer.status_code == 202, answer.get_json()
    messages = counted.llen("default")
    assert messages >= events // 2  # single events: about one message each
    try:
        counted.config_resetstat()
        pool.start()
        wait_for(lambda: row_count(app, tracked["id"]) == events, timeout=120)
        wait_for(lambda: counted.hlen("unacked") == 0, timeout=30)
        used = commands_by_name(counted)
    finally:
        pool.stop()
    print(f"{messages} messages acknowledged with {used.get('zrem')} ZREM, {used.get('srem')} SREM")
    assert used.get("zrem", 0) == used.get("srem", 0) > 0, used
    assert used["zrem"] * 5 <= messages, used
