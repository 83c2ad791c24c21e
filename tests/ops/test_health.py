"""GET /health with everything up: 200, database and broker ok, and the running `default`
worker listed under its queue (from the heartbeat it writes to the database)."""

from __future__ import annotations

import socket
import time

import pytest

from celery_config import WORKER_POOLS
from tests.support import app_with, wait_for


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
    assert set(body["workers"]) == {"default", "emails", "batch_processing", "emails_priority"}
    assert isinstance(body["workers"]["emails"], list)
    assert isinstance(body["workers"]["batch_processing"], list)
    assert default_worker.hostname not in body["workers"]["emails"]
    assert default_worker.hostname not in body["workers"]["batch_processing"]


def test_health_reports_queue_depths_and_parked_counts_from_the_broker(app, client):
    import redis

    from tests.support import BROKER_DB, TEST_REDIS_URL

    broker = redis.Redis.from_url(f"{TEST_REDIS_URL}/{BROKER_DB}")
    queue = "batch_processing"  # no worker consumes it in this test
    before = client.get("/health").get_json()["broker"]
    broker.lpush(queue, b"not-a-message-1", b"not-a-message-2")
    broker.lpush("lvd.unreadable:emails", b"x")
    broker.zadd("unacked_index", {"health-test-tag": broker.time()[0] - 30})
    broker.hset("unacked", "health-test-tag", b"[]")
    try:
        after = client.get("/health").get_json()["broker"]
    finally:
        broker.delete(queue, "lvd.unreadable:emails")
        broker.zrem("unacked_index", "health-test-tag")
        broker.hdel("unacked", "health-test-tag")
    assert after["depths"][queue] == before["depths"][queue] + 2
    assert after["set_aside"]["emails"] == before["set_aside"]["emails"] + 1
    assert after["unacked"] == before["unacked"] + 1
    assert after["oldest_unacked_seconds"] >= 29
    assert set(after["depths"]) == {"default", "emails", "batch_processing", "emails_priority"}


@pytest.fixture
def silent_database():
    """A PostgreSQL URL whose server accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    yield f"postgresql+psycopg2://lvd:lvd@127.0.0.1:{listener.getsockname()[1]}/lvd"
    listener.close()


@pytest.mark.parametrize(
    ("database_down", "broker_down"), [(True, False), (False, True), (True, True)]
)
def test_health_answers_with_what_is_down(
    app, private_redis, silent_database, database_down, broker_down
):
    config = {
        "CELERY": {"broker_url": private_redis.url},
        **({"SQLALCHEMY_DATABASE_URI": silent_database} if database_down else {}),
    }
    with app_with(app, config) as checked_app:
        client = checked_app.test_client()
        if broker_down:
            private_redis.stop()
        started = time.monotonic()
        answer = client.get("/health")
        seconds = time.monotonic() - started
    body = answer.get_json()
    print(f"/health with database down={database_down}, broker down={broker_down}: {seconds:.2f} s")
    assert answer.status_code == 503
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is not database_down
    assert body["broker"]["ok"] is not broker_down
    if database_down:  # cut off at the deadline, not waiting for the connect timeout
        assert (
            body["database"]["error"] == f"no answer within {app.config['HEALTH_TIMEOUT_SECONDS']}s"
        )
    else:
        assert body["workers"].keys() == set(WORKER_POOLS)
    if not broker_down:
        assert body["broker"]["depths"] == {pool: 0 for pool in WORKER_POOLS}
        assert body["broker"]["dead_letter"] == 0
        assert body["broker"]["oldest_unacked_seconds"] is None
    assert isinstance(body["degraded_writes_this_process"], int)
