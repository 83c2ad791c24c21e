"""kombu's Redis transport without the moment in which a received message can vanish.

kombu takes a message off its queue with BRPOP and only then records it as
unacknowledged (the hash its restore sweep reads). A worker killed between the two
loses the message: the crash test saw one of 2,300 vanish that way. Here a consumer
instead moves the message atomically (BLMOVE) onto a list of its own, and takes it off
that list in the same MULTI that records it as unacknowledged. At every moment the
message is in the queue, on that list, or in the unacknowledged hash.

Each consumer keeps a key alive (for the visibility timeout) while it consumes. The
restore sweep puts back whatever the lists of consumers whose key expired still hold,
so a message received by a worker that died comes back like any unacknowledged one.
A message can then be delivered twice, never lost; storage is idempotent.

Envelopes are read and written with orjson: they are plain JSON (kombu's reader only
adds revival of typed values, which no envelope field holds), and at a few hundred
kilobytes per message the standard library's codec is a large part of a worker's
main-process time.

This applies when a channel consumes one queue at priority 0 (`celery_config` sets
`priority_steps` to [0]); otherwise the channel is kombu's own.
"""

from __future__ import annotations

import time
import uuid
from queue import Empty

import orjson
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as virtual
from kombu.utils.encoding import bytes_to_str

RECEIVING_PREFIX = "lvd.receiving"  # lvd.receiving:<consumer>:<queue>
CONSUMER_PREFIX = "lvd.consumer"  # lvd.consumer:<consumer>, alive while it consumes
ORPHAN_SWEEP_SECONDS = 10


class QoS(kombu_redis.QoS):
    def append(self, message, delivery_tag) -> None:
        """Record the message as unacknowledged and off the receiving list, atomically."""
        receiving = self.channel.take_receiving_key()
        if receiving is None:
            super().append(message, delivery_tag)
            return
        delivery = message.delivery_info
        exchange, routing_key = delivery["exchange"], delivery["routing_key"]
        with self.pipe_or_acquire() as pipe:  # a MULTI/EXEC transaction
            pipe.zadd(self.unacked_index_key, {delivery_tag: time.time()})
            pipe.hset(
                self.unacked_key, delivery_tag, orjson.dumps([message._raw, exchange, routing_key])
            )
            pipe.lpop(receiving)  # BLMOVE put the message at the list's head
            pipe.execute()
        virtual.QoS.append(self, message, delivery_tag)

    def restore_visible(self, start=0, num=10, interval=10) -> None:
        super().restore_visible(start, num, interval)
        self.channel.restore_orphans()


class Channel(kombu_redis.Channel):
    QoS = QoS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.consumer_id = uuid.uuid4().hex
        self._moving_from: str | None = None  # the queue a BLMOVE in flight reads
        self._receiving: str | None = None  # set while a moved message is delivered
        self._alive_at = 0.0
        self._swept_at = 0.0
        self._server_moves: bool | None = None

    def receiving_key(self, queue: str) -> str:
        return f"{RECEIVING_PREFIX}:{self.consumer_id}:{queue}"

    @property
    def alive_key(self) -> str:
        return f"{CONSUMER_PREFIX}:{self.consumer_id}"

    def take_receiving_key(self) -> str | None:
        """The receiving list of the message being delivered, once (for QoS.append)."""
        key, self._receiving = self._receiving, None
        return key

    def _moves_atomically(self) -> bool:
        if self._server_moves is None:
            with self.conn_or_acquire() as client:
                version = client.info("server")["redis_version"]
            self._server_moves = tuple(int(part) for part in version.split(".")[:2]) >= (6, 2)
        return (
            self._server_moves
            and len(self.active_queues) == 1
            and list(self.priority_steps) == [0]
            and not self.global_keyprefix
        )

    def _brpop_start(self, timeout=None) -> None:
        if not self._moves_atomically():
            return super()._brpop_start(timeout)
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        queue = queues[0]
        self._keep_alive()
        self._moving_from = queue
        self._in_poll = self.client.connection
        self._brpop_sent_at = time.monotonic()
        self.client.connection.send_command(
            "BLMOVE", queue, self.receiving_key(queue), "RIGHT", "LEFT", timeout or 0
        )

    def _brpop_read(self, **options) -> bool:
        queue, self._moving_from = self._moving_from, None
        if queue is None:
            return super()._brpop_read(**options)
        try:
            try:
                item = self.client.parse_response(self.client.connection, "BLMOVE", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if item is None:
                raise Empty()
            self._queue_cycle.rotate(queue)
            self._receiving = self.receiving_key(queue)
            try:
                self.connection._deliver(orjson.loads(item), queue)
            except BaseException:
                if self._receiving is not None:  # never recorded: back to the queue
                    self._with_client("lmove", self._receiving, queue, "LEFT", "RIGHT")
                raise
            else:
                if self._receiving is not None:  # delivered without acknowledgement
                    self._with_client("lpop", self._receiving)
            finally:
                self._receiving = None
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    def _with_client(self, command: str, *args):
        with self.conn_or_acquire() as client:
            return getattr(client, command)(*args)

    def _keep_alive(self) -> None:
        now = time.monotonic()
        if now - self._alive_at < self.visibility_timeout / 4:
            return
        with self.conn_or_acquire() as client:
            client.set(self.alive_key, 1, ex=max(1, int(self.visibility_timeout)))
        self._alive_at = now

    def restore_orphans(self) -> None:
        """Requeue what receiving lists of consumers that stopped keeping alive still hold."""
        now = time.monotonic()
        if now - self._swept_at < ORPHAN_SWEEP_SECONDS:
            return
        self._swept_at = now
        with self.conn_or_acquire() as client:
            for key in client.scan_iter(match=f"{RECEIVING_PREFIX}:*", count=200):
                _prefix, consumer, queue = bytes_to_str(key).split(":", 2)
                if not client.exists(f"{CONSUMER_PREFIX}:{consumer}"):
                    _requeue_all(client, key, queue)

    def close(self) -> None:
        """Requeue anything this consumer received but never recorded, then close."""
        if not self.closed:
            try:
                with self.conn_or_acquire() as client:
                    for queue in self.active_queues:
                        _requeue_all(client, self.receiving_key(queue), queue)
                    client.delete(self.alive_key)
            except self.connection_errors:
                pass  # the sweep requeues it once the consumer key expires
        super().close()


def _requeue_all(client, receiving: str, queue: str) -> None:
    """Move every message of a receiving list back to the consuming end of its queue."""
    while client.lmove(receiving, queue, "RIGHT", "RIGHT") is not None:
        pass


class Transport(kombu_redis.Transport):
    Channel = Channel
