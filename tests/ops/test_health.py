"""GET /health with everything up: 200, database and broker ok, and the running `default`
worker listed under its queue (from the heartbeat it writes to the database)."""

from __future__ import annotations

import socket
import time

import pytest

from celery_config import WORKER_POOLS
from tests.support.factories import app_with
from tests.support.processes import wait_for


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


def test_queue_status_reads_depths_unacked_and_parked_counts_from_redis(private_redis):
    import redis
    from celery import Celery

    from app.ops.queues import queue_status

    url = private_redis.url  # a broker of this test's own: no worker consumes it
    broker = redis.Redis.from_url(url)
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
    assert status["depths"] == {
        "default": 1,
        "emails": 0,
        "batch_processing": 2,
        "emails_priority": 0,
    }
    assert status["unacked"] == 2
    assert 29 <= status["oldest_unacked_seconds"] < 60
    assert status["dead_letter"] == 1
    assert status["set_aside"] == {
        "default": 0,
        "emails": 1,
        "batch_processing": 0,
        "emails_priority": 0,
    }


def test_health_includes_the_broker_queue_status(client):
    broker = client.get("/health").get_json()["broker"]
    assert set(broker["depths"]) == {"default", "emails", "batch_processing", "emails_priority"}
    for field in ("unacked", "dead_letter", "set_aside", "oldest_unacked_seconds"):
        assert field in broker


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
