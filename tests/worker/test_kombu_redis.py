"""The Redis transport: a received message is always in the queue, on its consumer's
receiving list, or recorded as unacknowledged, and orphans come back to the queue; a
wake-up takes several messages, and on an event loop acknowledgements go together."""

from __future__ import annotations

import socket
import time
import uuid

import orjson
import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.asynchronous import Hub

from app.worker.transport.kombu_redis import CONSUMER_PREFIX, RECEIVING_PREFIX, UNREADABLE_PREFIX
from app.worker.transport.redis_ownership import OWNED_PREFIX, restore_gone_consumers
from tests.support.servers import PrivateRedis

OPTIONS = {"priority_steps": [0], "visibility_timeout": 60}
TRANSPORT = "app.worker.transport.kombu_redis:Transport"


@pytest.fixture(scope="module")
def redis_url():
    """A Redis of the module's own: the sweeps here read every consumer's records."""
    server = PrivateRedis().start()
    yield server.url
    server.stop()


@pytest.fixture
def queue_name(redis_url):
    name = f"transport-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)


def _connection(url: str) -> Connection:
    return Connection(url, transport=TRANSPORT, transport_options=OPTIONS)


def _publish(connection, queue, bodies) -> None:
    producer = connection.Producer()
    for body in bodies:
        producer.publish(body, exchange=queue.exchange, routing_key=queue.name, declare=[queue])


def _queue(name: str) -> Queue:
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def test_a_received_message_is_recorded_unacknowledged_and_off_the_receiving_list(
    queue_name, redis_url
):
    client = redis.Redis.from_url(redis_url)
    queue = _queue(queue_name)
    received = []
    with _connection(redis_url) as connection:
        _publish(connection, queue, [{"n": 1}])
        channel = connection.default_channel
        with connection.Consumer(queue, callbacks=[lambda body, m: received.append(m)]):
            connection.drain_events(timeout=5)
            assert [m.payload for m in received] == [{"n": 1}]
            tag = received[0].delivery_tag
            assert client.hexists("unacked", tag)
            assert client.sismember(channel.owned_key, tag)
            assert client.llen(channel.receiving_key(queue_name)) == 0
            assert client.exists(f"{CONSUMER_PREFIX}:{channel.consumer_id}")
            received[0].ack()
            assert not client.hexists("unacked", tag)
            assert not client.sismember(channel.owned_key, tag)
            assert client.llen(queue_name) == 0


def _unacked_record(client, connection, queue, tag: str, score: float, owner: str | None):
    """Publish a message and record it by hand as unacknowledged (kombu's stored form),
    with an index score and, unless None, an owning consumer."""
    _publish(connection, queue, [{"tag": tag}])
    envelope = orjson.loads(client.rpop(queue.name))
    envelope["properties"]["delivery_tag"] = tag
    client.hset("unacked", tag, orjson.dumps([envelope, queue.name, queue.name]))
    client.zadd("unacked_index", {tag: score})
    if owner is not None:
        client.sadd(f"{OWNED_PREFIX}:{owner}", tag)


def test_the_sweep_gives_back_only_what_gone_consumers_hold_and_old_ownerless_records(
    queue_name, redis_url
):
    client = redis.Redis.from_url(redis_url)
    queue = _queue(queue_name)
    for key in client.scan_iter(match="lvd.*"):  # other tests' consumers, if any
        client.delete(key)
    gone, alive = uuid.uuid4().hex, uuid.uuid4().hex
    client.set(f"{CONSUMER_PREFIX}:{alive}", 1, ex=60)
    seconds, _micro = client.time()  # Redis' clock, not this host's
    old, new = seconds - 1000, seconds - 10
    with _connection(redis_url) as connection:
        _unacked_record(client, connection, queue, "gone-old", old, gone)
        _unacked_record(client, connection, queue, "gone-new", new, gone)
        _unacked_record(client, connection, queue, "alive-old", old, alive)  # a slow task
        _unacked_record(client, connection, queue, "ownerless-old", old, None)
        _unacked_record(client, connection, queue, "ownerless-new", new, None)
        client.lpush(queue_name, b"first", b"second")
        client.lmove(queue_name, f"{RECEIVING_PREFIX}:{gone}:{queue_name}", "RIGHT", "LEFT")
        client.lmove(queue_name, f"{RECEIVING_PREFIX}:{alive}:{queue_name}", "RIGHT", "LEFT")

        swept = restore_gone_consumers(connection.default_channel.qos, client, 600)

    assert swept == [gone]
    queued = client.lrange(queue_name, 0, -1)
    envelopes = [orjson.loads(m) for m in queued if m.startswith(b"{")]
    tags = sorted(m["properties"]["delivery_tag"] for m in envelopes)
    assert tags == ["gone-new", "gone-old", "ownerless-old"]
    assert [m for m in queued if not m.startswith(b"{")] == [b"first"]  # its receiving list
    assert sorted(client.hkeys("unacked")) == [b"alive-old", b"ownerless-new"]
    assert not client.exists(f"{OWNED_PREFIX}:{gone}", f"{RECEIVING_PREFIX}:{gone}:{queue_name}")
    assert client.smembers(f"{OWNED_PREFIX}:{alive}") == {b"alive-old"}
    assert client.lrange(f"{RECEIVING_PREFIX}:{alive}:{queue_name}", 0, -1) == [b"second"]
    for key in (f"{CONSUMER_PREFIX}:{alive}", f"{OWNED_PREFIX}:{alive}", "unacked"):
        client.delete(key)
    client.zrem("unacked_index", "alive-old", "ownerless-new")


def test_the_keep_alive_is_judged_by_redis_and_recreated_when_missing(queue_name, redis_url):
    client = redis.Redis.from_url(redis_url)
    with _connection(redis_url) as connection:
        channel = connection.default_channel
        channel.consumer_ttl = 9
        channel.keep_alive()
        assert 0 < client.ttl(channel.alive_key) <= 9
        client.delete(channel.alive_key)
        channel.keep_alive()  # a third of the TTL has not passed: nothing sent
        assert not client.exists(channel.alive_key)
        channel._alive_at -= 3
        channel.keep_alive()
        assert 0 < client.ttl(channel.alive_key) <= 9


def test_closing_drops_a_pending_receive_instead_of_waiting_for_it(queue_name, redis_url):
    """A BLMOVE that would block for 300 s: close returns at once (the bound is generous,
    the wait it replaces is 300 s), and a message published afterwards stays queued."""
    client = redis.Redis.from_url(redis_url)
    queue = _queue(queue_name)
    options = {**OPTIONS, "polling_interval": 300}  # the receive's wait (the metered one)
    with Connection(redis_url, transport=TRANSPORT, transport_options=options) as connection:
        channel = connection.default_channel
        with connection.Consumer(queue, callbacks=[lambda body, m: None]):
            with pytest.raises(socket.timeout):
                connection.drain_events(timeout=0.5)  # sends the BLMOVE, nothing comes
            assert channel._in_poll
            alive_key, receiving = channel.alive_key, channel.receiving_key(queue_name)
            assert client.exists(alive_key)
            started = time.monotonic()
            channel.close()
            assert time.monotonic() - started < 10
    client.lpush(queue_name, b"later")
    time.sleep(0.2)  # a BLMOVE still blocked would take it now
    assert client.lrange(queue_name, 0, -1) == [b"later"]
    assert not client.exists(receiving, alive_key)


def test_one_wake_up_takes_what_the_prefetch_allows_and_records_it_all(queue_name, redis_url):
    client = redis.Redis.from_url(redis_url)
    queue = _queue(queue_name)
    received = []
    with _connection(redis_url) as connection:
        _publish(connection, queue, [{"n": n} for n in range(5)])
        channel = connection.default_channel
        with connection.Consumer(queue, callbacks=[lambda body, m: received.append(m)]) as consumer:
            consumer.qos(prefetch_count=3)
            connection.drain_events(timeout=5)  # one read of the socket
            assert [m.payload for m in received] == [{"n": 0}, {"n": 1}, {"n": 2}]
            assert client.llen(queue_name) == 2
            assert client.llen(channel.receiving_key(queue_name)) == 0
            tags = [m.delivery_tag for m in received]
            assert all(client.hexists("unacked", tag) for tag in tags)
            assert client.zcard("unacked_index") >= 3

            for message in received:
                message.ack()
            connection.drain_events(timeout=5)
            assert [m.payload["n"] for m in received] == [0, 1, 2, 3, 4]
            for message in received[3:]:
                message.ack()
            assert not any(client.hexists("unacked", m.delivery_tag) for m in received)
    assert client.llen(queue_name) == 0


def test_a_message_that_is_not_an_envelope_is_set_aside_and_the_rest_delivered(
    queue_name, redis_url
):
    client = redis.Redis.from_url(redis_url)
    queue = _queue(queue_name)
    received = []
    with _connection(redis_url) as connection:
        _publish(connection, queue, [{"n": 1}])
        client.lpush(queue_name, b"not json {")  # behind the first message
        _publish(connection, queue, [{"n": 2}])
        with connection.Consumer(queue, callbacks=[lambda body, m: received.append(m)]):
            connection.drain_events(timeout=5)
            assert [m.payload for m in received] == [{"n": 1}, {"n": 2}]
            for message in received:
                message.ack()
    assert client.lrange(f"{UNREADABLE_PREFIX}:{queue_name}", 0, -1) == [b"not json {"]
    assert client.llen(queue_name) == 0


def test_on_an_event_loop_acks_reach_redis_together_at_the_end_of_the_iteration(
    queue_name, redis_url
):
    client = redis.Redis.from_url(redis_url)
    queue = _queue(queue_name)
    received = []
    hub = Hub()
    try:
        with _connection(redis_url) as connection:
            _publish(connection, queue, [{"n": n} for n in range(3)])
            with connection.Consumer(queue, callbacks=[lambda body, m: received.append(m)]):
                connection.drain_events(timeout=5)
                assert len(received) == 3
                connection.transport.register_with_event_loop(connection.connection, hub)
                for message in received:
                    message.ack()
                tags = [m.delivery_tag for m in received]
                assert all(client.hexists("unacked", tag) for tag in tags)  # not yet sent
                for tick in list(hub.on_tick):  # what the loop runs every iteration
                    tick()
                assert not any(client.hexists("unacked", tag) for tag in tags)
                assert not any(client.zscore("unacked_index", tag) for tag in tags)
    finally:
        hub.close()


def test_on_an_event_loop_a_consumer_that_emptied_the_queue_rests_before_its_next_blmove(
    queue_name, redis_url
):
    queue = _queue(queue_name)
    received = []
    hub = Hub()
    try:
        with _connection(redis_url) as connection:
            transport = connection.transport
            transport.register_with_event_loop(connection.connection, hub)
            _publish(connection, queue, [{"n": 1}])
            channel = connection.default_channel
            with connection.Consumer(queue, callbacks=[lambda body, m: received.append(m)]):
                connection.drain_events(timeout=5)
                assert len(received) == 1
                assert channel._rest_until > time.monotonic()  # the queue ran dry

                channel._brpop_start()
                assert not channel._in_poll  # no BLMOVE sent
                wakes = [t for t in hub.timer.queue if t.entry.fun == transport._woken]
                assert len(wakes) == 1  # the loop turns again when the rest ends
                received[0].ack()
    finally:
        hub.close()


def test_a_message_kombu_cannot_take_is_set_aside_and_the_ones_after_it_requeued(
    queue_name, redis_url
):
    client = redis.Redis.from_url(redis_url)
    queue = _queue(queue_name)
    received = []
    with _connection(redis_url) as connection:
        _publish(connection, queue, [{"n": 1}])
        envelope = orjson.loads(client.lindex(queue_name, 0))
        envelope["properties"]["delivery_tag"] = "undecodable-tag"
        envelope["properties"]["body_encoding"] = "no-such-codec"
        client.lpush(queue_name, orjson.dumps(envelope))
        _publish(connection, queue, [{"n": 3}])
        with connection.Consumer(queue, callbacks=[lambda body, m: received.append(m)]):
            with pytest.raises(AttributeError):  # kombu finds no such codec
                connection.drain_events(timeout=5)
            assert [m.payload for m in received] == [{"n": 1}]
            assert client.llen(queue_name) == 1  # the third message, back in the queue
            assert not client.hexists("unacked", "undecodable-tag")
            aside = client.lrange(f"{UNREADABLE_PREFIX}:{queue_name}", 0, -1)
            assert [orjson.loads(m)["properties"]["delivery_tag"] for m in aside] == [
                "undecodable-tag"
            ]
            received[0].ack()
            connection.drain_events(timeout=5)
            assert [m.payload for m in received] == [{"n": 1}, {"n": 3}]
            received[1].ack()


def test_a_lost_blmove_reply_does_not_strand_the_message(queue_name, redis_url):
    """A BLMOVE sent, its reply never read (a reconnect): the message it moved onto the
    live consumer's receiving list goes back to the queue at the next receive."""
    client = redis.Redis.from_url(redis_url)
    queue = _queue(queue_name)
    received = []
    with _connection(redis_url) as connection:
        channel = connection.default_channel
        with connection.Consumer(queue, callbacks=[lambda body, m: received.append(m)]):
            _publish(connection, queue, [{"n": 0}])
            connection.drain_events(timeout=5)  # receiving as usual
            received.pop().ack()
            _publish(connection, queue, [{"n": 1}])
            channel._brpop_start(timeout=1)  # the move happens; the reply is never read
            receiving = channel.receiving_key(queue_name)
            deadline = time.monotonic() + 5
            while client.llen(receiving) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.llen(receiving) == 1
            channel.client.connection.disconnect()  # the reply is lost with the connection
            channel._in_poll = None
            connection.drain_events(timeout=5)
            assert [m.payload for m in received] == [{"n": 1}]
            assert client.llen(receiving) == 0
            assert client.hexists("unacked", received[0].delivery_tag)
            received[0].ack()
