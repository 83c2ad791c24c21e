"""The Redis transport: a received message is always in the queue, on its consumer's
receiving list, or recorded as unacknowledged, and orphans come back to the queue."""

from __future__ import annotations

import uuid

import pytest
import redis
from kombu import Connection, Exchange, Queue

from app.broker_redis import CONSUMER_PREFIX, RECEIVING_PREFIX
from tests.conftest import TEST_REDIS_URL

URL = f"{TEST_REDIS_URL}/15"
OPTIONS = {"priority_steps": [0], "visibility_timeout": 60}


@pytest.fixture
def queue_name():
    name = f"transport-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)


def _connection() -> Connection:
    return Connection(URL, transport="app.broker_redis:Transport", transport_options=OPTIONS)


def test_a_received_message_is_recorded_unacknowledged_and_off_the_receiving_list(queue_name):
    client = redis.Redis.from_url(URL)
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
    received = []
    with _connection() as connection:
        connection.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key=queue_name, declare=[queue]
        )
        channel = connection.default_channel
        with connection.Consumer(queue, callbacks=[lambda body, m: received.append(m)]):
            connection.drain_events(timeout=5)
            assert [m.payload for m in received] == [{"n": 1}]
            tag = received[0].delivery_tag
            assert client.hexists("unacked", tag)
            assert client.llen(channel.receiving_key(queue_name)) == 0
            assert client.exists(f"{CONSUMER_PREFIX}:{channel.consumer_id}")
            received[0].ack()
            assert not client.hexists("unacked", tag)
            assert client.llen(queue_name) == 0


def test_the_sweep_requeues_what_a_dead_consumer_received_but_never_recorded(queue_name):
    client = redis.Redis.from_url(URL)
    dead = f"{RECEIVING_PREFIX}:{uuid.uuid4().hex}:{queue_name}"
    alive_id = uuid.uuid4().hex
    alive = f"{RECEIVING_PREFIX}:{alive_id}:{queue_name}"
    client.lpush(queue_name, b"first", b"second", b"third")
    client.lmove(queue_name, dead, "RIGHT", "LEFT")  # moved, then the consumer was killed
    client.lmove(queue_name, alive, "RIGHT", "LEFT")  # moved by a consumer still running
    client.set(f"{CONSUMER_PREFIX}:{alive_id}", 1, ex=60)

    with _connection() as connection:
        connection.default_channel.restore_orphans()

    assert client.llen(dead) == 0
    assert client.lrange(alive, 0, -1) == [b"second"]  # a live consumer's is left alone
    assert sorted(client.lrange(queue_name, 0, -1)) == [b"first", b"third"]
    client.delete(f"{CONSUMER_PREFIX}:{alive_id}")
