"""GET /health with everything up: 200, database and broker ok, and the running `default`
worker listed under its queue (from the heartbeat it writes to the database)."""

from __future__ import annotations

from tests.support import wait_for


def test_health_ok_lists_the_running_default_worker(client, default_worker):
    def worker_listed():
        answer = client.get("/health")
        body = answer.get_json()
        if default_worker.hostname in body["workers"]["default"]:
            return answer, body
        return None

    answer, body = wait_for(worker_listed, timeout=15, interval=0.5)
    assert answer.status_code == 200
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert set(body["workers"]) == {"default", "emails", "batch_processing"}
    assert isinstance(body["workers"]["emails"], list)
    assert isinstance(body["workers"]["batch_processing"], list)
    assert default_worker.hostname not in body["workers"]["emails"]
    assert default_worker.hostname not in body["workers"]["batch_processing"]


def test_queue_status_reads_depths_unacked_and_parked_counts_from_redis():
    import redis
    from celery import Celery

    from app.ops.queues import queue_status
    from tests.support import TEST_REDIS_URL

    url = f"{TEST_REDIS_URL}/13"  # a broker database of this test's own: no worker consumes it
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    broker.lpush("batch_processing", b"m1", b"m2")
    broker.lpush("default", b"m3")
    broker.lpush("dead_letter", b"parked")
    broker.lpush("lvd.unreadable:emails", b"x")
    broker.zadd("unacked_index", {"old": broker.time()[0] - 30, "new": broker.time()[0]})
    broker.hset("unacked", mapping={"old": b"[]", "new": b"[]"})
    try:
        probe = Celery("probe")
        probe.conf.update(broker_read_url=url)  # beats the CELERY_BROKER_URL the tests set
        status = queue_status(probe).as_dict()
    finally:
        broker.flushdb()
    assert status["depths"] == {"default": 1, "emails": 0, "batch_processing": 2}
    assert status["unacked"] == 2
    assert 29 <= status["oldest_unacked_seconds"] < 60
    assert status["dead_letter"] == 1
    assert status["set_aside"] == {"default": 0, "emails": 1, "batch_processing": 0}


def test_health_includes_the_broker_queue_status(client):
    broker = client.get("/health").get_json()["broker"]
    assert set(broker["depths"]) == {"default", "emails", "batch_processing"}
    for field in ("unacked", "dead_letter", "set_aside", "oldest_unacked_seconds"):
        assert field in broker
