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
    # Other tests may leave messages on a queue no pool of theirs consumes.
    assert body["status"] == ("ok" if body["queues"]["ok"] else "failing")
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


def test_a_queue_with_messages_and_no_consumer_for_a_minute_is_reported_failing(
    app, default_worker
):
    """Three pools of four: codes wait on emails_priority, which nothing consumes. /health
    and /metrics name the queue and the command that starts its pool, until it has one."""
    from datetime import UTC, datetime, timedelta

    import redis
    from sqlalchemy import update

    from app.extensions import db
    from app.models import QueueConsumer
    from app.ops.consumers import consumers_last_seen
    from tests.ops.conftest import samples, value
    from tests.support.environment import TEST_REDIS_URL

    # The real worker's heartbeat records the queue it consumes and starts the others' clock.
    def recorded():
        with app.app_context():
            seen = consumers_last_seen()
        fresh = datetime.now(UTC) - timedelta(seconds=30)
        return set(seen) == set(WORKER_POOLS) and seen["default"] > fresh and seen

    wait_for(recorded, timeout=30)

    def consumer_seen(seconds_ago: float) -> None:
        with app.app_context():
            db.session.execute(
                update(QueueConsumer)
                .where(QueueConsumer.queue == "emails_priority")
                .values(last_seen=datetime.now(UTC) - timedelta(seconds=seconds_ago))
            )
            db.session.commit()

    url = f"{TEST_REDIS_URL}/13"  # a broker of this test's own: no worker consumes it
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    broker.lpush("emails_priority", b"code-1", b"code-2", b"code-3")
    command = "bash start_celery_worker.sh emails_priority"
    try:
        with app_with(app, {"CELERY": {"broker_url": url}}) as checked_app:
            client = checked_app.test_client()
            consumer_seen(90)
            answer = client.get("/health")
            body = answer.get_json()
            assert answer.status_code == 200  # the web still takes events
            assert body["status"] == "failing"
            assert body["queues"]["ok"] is False
            [found] = body["queues"]["unconsumed"]
            assert (found["queue"], found["messages"], found["command"]) == (
                "emails_priority",
                3,
                command,
            )
            assert found["seconds_without_consumer"] >= 90
            assert command in found["problem"]
            scraped = samples(client.get("/metrics").get_data(as_text=True))
            without = "lvd_queue_without_consumer"
            assert value(scraped, without, queue="emails_priority", command=command) == 1
            assert (
                value(
                    scraped,
                    without,
                    queue="default",
                    command=command.replace("emails_priority", "default"),
                )
                == 0
            )

            consumer_seen(10)  # a consumer 10 s ago: a worker restarting, not a missing pool
            body = client.get("/health").get_json()
            assert (body["status"], body["queues"]) == ("ok", {"ok": True, "unconsumed": []})
    finally:
        broker.flushdb()


@pytest.mark.parametrize(
    ("token", "loopback", "remote_addr", "authorization", "detailed"),
    [
        (None, True, "10.0.0.7", None, False),
        (None, False, "127.0.0.1", None, False),
        (None, True, "127.0.0.1", None, True),
        ("s3cret", True, "127.0.0.1", None, False),
        ("s3cret", False, "10.0.0.7", "Bearer wrong", False),
        ("s3cret", False, "10.0.0.7", "Bearer s3cret", True),
    ],
)
def test_health_details_go_only_to_operators(
    app, token, loopback, remote_addr, authorization, detailed
):
    hidden_database = "postgresql+psycopg2://secret_user:pw@db-secret-host.invalid:5432/lvd"
    config = {
        "SQLALCHEMY_DATABASE_URI": hidden_database,
        "METRICS_TOKEN": token,
        "METRICS_ALLOW_LOOPBACK": loopback,
        "HEALTH_TIMEOUT_SECONDS": 5.0,
    }
    headers = {"Authorization": authorization} if authorization else {}
    with app_with(app, config) as checked_app:
        answer = checked_app.test_client().get(
            "/health", headers=headers, environ_base={"REMOTE_ADDR": remote_addr}
        )
    assert answer.status_code == 503
    text = answer.get_data(as_text=True)
    if detailed:
        assert "db-secret-host.invalid" in answer.get_json()["database"]["error"]
    else:
        assert answer.get_json() == {"status": "unavailable"}
        assert "secret" not in text
