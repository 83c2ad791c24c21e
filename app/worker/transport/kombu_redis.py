"""kombu's Redis transport without the moment in which a received message can vanish, and
with messages redelivered because their consumer died, never because they are old.

kombu takes a message off its queue with BRPOP and only then records it as
unacknowledged; a worker killed between the two loses the message (the crash test saw
one of 2,300 vanish that way). Here a consumer moves the message atomically (BLMOVE) onto
a receiving list of its own, and takes it off that list in the same script that records
it as unacknowledged and as owned by the consumer (`worker/transport/redis_ownership.py`: the
keep-alive key, owned tags, the sweep that gives back what consumers that died held).
At every moment the message is in the queue, on that list, or recorded and owned. A
message can be delivered twice, never lost; storage is idempotent.

Each wake-up takes every message the prefetch allows (up to RECEIVE_MAX): one script
records the first and moves the rest onto the receiving list, one more records those.
On an event loop the acknowledgements of one loop iteration share one pipeline
(`QoS.flush_acks`), and after a wake-up that emptied the queue the next BLMOVE waits
RECEIVE_REST_SECONDS, so a steady trickle is taken a few messages at a time. Envelopes are
read with orjson (plain JSON; at a few hundred kilobytes per message the standard
library's codec is a large part of a worker's main-process time). A message that is not
a kombu envelope, or that kombu fails to take, is set aside on `lvd.unreadable:<queue>`.

When Redis refuses writes for memory the consumer keeps receiving by script
(`worker/transport/redis_pressure.py`); acknowledgements go without MULTI, and refused requeues,
sweeps and keep-alives are logged, not raised. A message that finishes after its channel
closed (a killed connection) is not acknowledged on it.

Closing does not wait for the pending BLMOVE (kombu's close reads its reply, up to the
whole receive wait): it drops that connection, which makes Redis abort the blocked
command, then requeues the consumer's receiving lists on a fresh connection.

This applies when a channel consumes one queue at priority 0 (`celery_config` sets
`priority_steps` to [0]); otherwise kombu's receive is used, with the same ownership.

Private kombu names it relies on, because kombu offers no public hook for how a Redis
consumer receives and records a message (all listed in `worker/transport/library_versions.py`,
whose test checks they exist): `Channel._brpop_start` / `_brpop_read` (the receive),
`_queue_cycle`, `_in_poll`, `_brpop_sent_at`, `_flush_brpop_reauth`, `_qos`,
`conn_or_acquire`, `unacked_key` / `unacked_index_key`, `_queue_bind`, `_size`,
`_q_for_pri`, `from_transport_options`; `QoS._remove_from_indices`, `restore_by_tag`,
`can_consume_max_estimate`; `Transport._deliver`, `brpop_timeout`; the hub's `on_tick`,
`call_later` and `call_repeatedly`. The acknowledgements and the sweep (`redis_qos.py`)
list theirs.
"""

from __future__ import annotations

import time
import uuid
from queue import Empty

import orjson
import redis
from kombu.log import get_logger
from kombu.transport import redis as kombu_redis

from app.worker.transport.redis_ownership import (
    CONSUMER_PREFIX,
    RECEIVING_PREFIX,
    OwnedRecording,
    read_envelope,
    requeue_all,
)
from app.worker.transport.redis_pressure import (
    UNREADABLE_PREFIX,
    PressureReceive,
    refuses_for_memory,
    unreadable_key,
)
from app.worker.transport.redis_qos import QoS

__all__ = ["CONSUMER_PREFIX", "RECEIVING_PREFIX", "UNREADABLE_PREFIX", "Transport"]

logger = get_logger(__name__)

RECEIVE_MAX = 100  # messages taken per wake-up, at most (the prefetch may allow fewer)
RECEIVE_REST_SECONDS = 0.01
CONSUMER_TTL_SECONDS = 30  # the keep-alive key's TTL (transport option `consumer_ttl`)


class Channel(OwnedRecording, PressureReceive, kombu_redis.Channel):
    QoS = QoS
    from_transport_options = kombu_redis.Channel.from_transport_options + ("consumer_ttl",)
    consumer_ttl = CONSUMER_TTL_SECONDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.consumer_id = uuid.uuid4().hex
        self._moving_from: str | None = None  # the queue a BLMOVE in flight reads
        # Queues whose BLMOVE reply was lost (a reconnect, a read that failed): what it
        # moved sits on this live consumer's receiving list, which no sweep touches.
        self._unread_moves: set[str] = set()
        self._recorded: set[str] = set()  # recorded unacknowledged, not yet delivered
        self._scripts: dict[str, object] = {}  # registered scripts, by their source
        self._rest_until = 0.0  # no BLMOVE before this (time.monotonic)
        self._alive_at = float("-inf")  # the keep-alive's last refresh (time.monotonic)
        self._server_moves: bool | None = None

    def _size(self, queue) -> int:
        # kombu reads the length in a MULTI, which Redis 7 refuses once maxmemory is
        # reached; a worker declaring its queue then could not start.
        with self.conn_or_acquire() as client:
            return sum(client.llen(self._q_for_pri(queue, pri)) for pri in self.priority_steps)

    def _queue_bind(self, exchange, routing_key, pattern, queue) -> None:
        try:
            super()._queue_bind(exchange, routing_key, pattern, queue)
        except redis.RedisError as exc:
            # Redis full: a worker must still start and consume, which frees memory.
            # Consuming needs no binding; publishers and the next declare write it.
            if not refuses_for_memory(exc):
                raise
            logger.error("Redis refuses writes (%s); queue %s not bound now", exc, queue)

    def take_recorded(self, delivery_tag: str) -> bool:
        """True once for a message recorded as unacknowledged when it was received."""
        if delivery_tag in self._recorded:
            self._recorded.discard(delivery_tag)
            return True
        return False

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
            self.keep_alive()
            return super()._brpop_start(timeout)
        resting = self._rest_until - time.monotonic()
        if resting > 0:  # the event loop calls again on its next turn
            self.connection.wake_loop_after(resting)
            return None
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        queue = queues[0]
        if self._moving_from is not None:  # sent, and its reply never read
            self._unread_moves.add(self._moving_from)
        if self._unread_moves:
            self._requeue_unread_moves()
        self.keep_alive()
        self._moving_from = queue
        self._in_poll = self.client.connection
        self._brpop_sent_at = time.monotonic()
        if self.under_pressure():
            self.send_take_under_pressure(queue)
            return
        wait = self.brpop_timeout if timeout is None else timeout
        self.client.connection.send_command(
            "BLMOVE", queue, self.receiving_key(queue), "RIGHT", "LEFT", wait or 0
        )

    def _requeue_unread_moves(self) -> None:
        """Put back what BLMOVEs whose reply was lost moved onto the receiving lists."""
        with self.conn_or_acquire() as client:
            for queue in sorted(self._unread_moves):
                requeue_all(client, self.receiving_key(queue), queue)
                self._unread_moves.discard(queue)

    def _brpop_read(self, **options) -> bool:
        queue, self._moving_from = self._moving_from, None
        if queue is None:
            return super()._brpop_read(**options)
        under_pressure = self._taking_under_pressure
        try:
            try:
                if under_pressure:
                    received = self.read_take_under_pressure(**options)
                else:
                    received = self.client.parse_response(
                        self.client.connection, "BLMOVE", **options
                    )
            except self.connection_errors:
                self._unread_moves.add(queue)
                self.client.connection.disconnect()
                raise
            except redis.ResponseError as exc:
                if not refuses_for_memory(exc):
                    raise
                self.enter_pressure(exc)
                raise Empty() from exc
            if not received:
                if under_pressure:
                    self._rest_until = time.monotonic() + RECEIVE_REST_SECONDS
                raise Empty()
            self._queue_cycle.rotate(queue)
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()
        if under_pressure:
            self._deliver_taken(received, queue)
        else:
            self._receive_moved(received, queue)
        return True

    def _deliver_taken(self, raws: list[bytes], queue: str) -> None:
        """Deliver messages the pressure script took and recorded as unacknowledged."""
        envelopes, tags = [], []
        for raw in raws:
            read = read_envelope(raw)
            if read is None:  # recorded by the script: the restore sweep brings it back
                logger.error("could not read a message taken from queue %s", queue)
                continue
            envelopes.append(read[0])
            tags.append(read[1])
        with self.conn_or_acquire() as client:
            self._deliver_recorded(client, envelopes, tags, queue)

    def _receive_moved(self, first: bytes, queue: str) -> None:
        """Take what else the prefetch allows, record it all, then deliver each message."""
        receiving = self.receiving_key(queue)
        with self.conn_or_acquire() as client:
            room = self.qos.can_consume_max_estimate()
            more = RECEIVE_MAX - 1 if room is None else min(room - 1, RECEIVE_MAX - 1)
            try:
                read = read_envelope(first)
                if read is None or more <= 0:
                    envelopes, tags = self._record_raws(client, [first], queue)
                else:
                    moved = self._record_first_move_more(client, read, queue, more)
                    if len(moved) < more and self.connection.on_event_loop:
                        # The queue ran dry: let a few messages gather before the next.
                        self._rest_until = time.monotonic() + RECEIVE_REST_SECONDS
                    envelopes, tags = [read[0]], [read[1]]
                    if moved:
                        also = self._record_raws(client, moved, queue)
                        envelopes += also[0]
                        tags += also[1]
            except BaseException as exc:
                try:
                    requeue_all(client, receiving, queue)  # moved and not recorded
                except redis.ResponseError as refused:
                    logger.error(
                        "messages stay on %s until this consumer closes or stops keeping alive: %s",
                        receiving,
                        refused,
                    )
                if refuses_for_memory(exc):
                    self.enter_pressure(exc)
                    raise Empty() from exc
                raise
            self._deliver_recorded(client, envelopes, tags, queue)

    def _deliver_recorded(self, client, envelopes: list[dict], tags: list[str], queue: str):
        """Deliver messages recorded as unacknowledged; QoS.append then skips Redis."""
        self._recorded.update(tags)
        try:
            for index, envelope in enumerate(envelopes):
                try:
                    self.connection._deliver(envelope, queue)
                except BaseException:
                    if self.take_recorded(tags[index]):  # failed before kombu took it
                        self._set_aside(client, envelope, tags[index], queue)
                    for tag in tags[index + 1 :]:  # never delivered: back to the queue
                        if self.take_recorded(tag):
                            self.qos.restore_by_tag(tag, client=client)
                    raise
        finally:
            # Delivered without acknowledgement (a no-ack consumer): nothing to redeliver.
            unrecorded = [tag for tag in tags if self.take_recorded(tag)]
            if unrecorded:
                with client.pipeline() as pipe:
                    for tag in unrecorded:
                        self.qos._remove_from_indices(tag, pipe)
                    pipe.execute()

    def _set_aside(self, client, envelope: dict, tag: str, queue: str) -> None:
        """Move a recorded message that kombu could not take onto the unreadable list."""
        logger.error("set aside message %s of queue %s: it could not be delivered", tag, queue)
        with client.pipeline() as pipe:
            pipe.lpush(unreadable_key(queue), orjson.dumps(envelope))
            self.qos._remove_from_indices(tag, pipe)
            pipe.execute()

    def _abandon_receive(self) -> None:
        """Drop the connection a receive is pending on: Redis aborts the blocked command
        of a closed client, so closing does not wait for it to time out."""
        connection = self._in_poll
        self._in_poll = None
        self._moving_from = None
        self._taking_under_pressure = False
        try:
            connection.disconnect()
        except Exception as exc:  # closing anyway
            logger.debug("dropping the receiving connection failed: %r", exc)

    def close(self) -> None:
        """Requeue anything this consumer received but never recorded, then close.
        A message a BLMOVE moved just before its connection was dropped is among them."""
        if not self.closed:
            if self._in_poll:
                self._abandon_receive()
            try:
                if self._qos is not None:
                    self._qos.flush_acks()
                with self.conn_or_acquire() as client:
                    for queue in self.active_queues:
                        requeue_all(client, self.receiving_key(queue), queue)
                    client.delete(self.alive_key)
            except self.connection_errors:
                pass  # the sweep requeues it once the consumer key expires
        super().close()


class Transport(kombu_redis.Transport):
    Channel = Channel
    on_event_loop = False  # acknowledgements are then flushed once per loop iteration
    _loop = None
    _wake_pending = False
    _keep_alive_timer = None

    def register_with_event_loop(self, connection, loop) -> None:
        super().register_with_event_loop(connection, loop)
        self.on_event_loop = True
        self._loop = loop
        loop.on_tick.add(self._flush_acks)
        # Keep-alives go on while no receive is sent (a full pool, messages held by the
        # storage batcher); each refresh is sent only when a third of the TTL has passed.
        ttl = connection.client.transport_options.get("consumer_ttl", CONSUMER_TTL_SECONDS)
        if self._keep_alive_timer is not None:
            self._keep_alive_timer.cancel()
        self._keep_alive_timer = loop.call_repeatedly(max(ttl / 6, 0.5), self._keep_alive)

    def close_connection(self, connection) -> None:
        if self._keep_alive_timer is not None:  # a new connection has its own transport
            self._keep_alive_timer.cancel()
            self._keep_alive_timer = None
        super().close_connection(connection)

    def wake_loop_after(self, seconds: float) -> None:
        """Make sure the event loop turns again within `seconds` (it may otherwise poll
        for up to a second with no command sent)."""
        if self._loop is not None and not self._wake_pending:
            self._wake_pending = True
            self._loop.call_later(seconds, self._woken)

    def _woken(self) -> None:
        self._wake_pending = False

    def _flush_acks(self) -> None:
        for channel in self.channels:
            if channel._qos is not None:  # created on first use
                channel._qos.flush_acks()

    def _keep_alive(self) -> None:
        for channel in list(self.channels):
            if channel.active_queues and not channel.closed and channel.connection is not None:
                try:
                    channel.keep_alive()
                except redis.RedisError as exc:  # the receive's reconnect will tell
                    logger.warning("could not refresh consumer %s: %r", channel.consumer_id, exc)
