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

Each wake-up takes every message the prefetch allows (up to RECEIVE_MAX), not one. One
script call records the first message and moves the rest onto the receiving list; one
MULTI records the rest. On an event loop, the acknowledgements of one loop iteration
share one pipeline (`QoS.flush_acks`). A few round trips per wake-up, instead of two
per message, keep the worker's main process from waiting on Redis message by message.
After a wake-up that emptied the queue, the next BLMOVE waits RECEIVE_REST_SECONDS, so
that a steady trickle is taken a few messages at a time. A message that is not a kombu
envelope, or that kombu fails to take (an unknown body encoding), is set aside on
`lvd.unreadable:<queue>`, neither lost nor received forever.

When Redis refuses writes for memory (maxmemory under noeviction), the worker must keep
consuming, since that is what frees memory: a refused BLMOVE switches the consumer, for
PRESSURE_RETRY_SECONDS at a time, to a script that pops messages before recording them
(Redis refuses no write of a script that has already written); acknowledgements go
without MULTI (Redis 7 refuses to queue commands of a transaction then); refused
requeues, sweeps and keep-alives are logged, not raised. A message that finishes after
its channel closed (a killed connection) is not acknowledged on it.

This applies when a channel consumes one queue at priority 0 (`celery_config` sets
`priority_steps` to [0]); otherwise the channel is kombu's own. Only workers use this
transport; the web tier publishes with kombu's own (or `ingest/kombu_publish.py`).

Private kombu names it relies on, because kombu offers no public hook for how a Redis
consumer receives and records a message (all listed in `worker/library_versions.py`,
whose test checks they exist): `Channel._brpop_start` / `_brpop_read` (the receive),
`_queue_cycle`, `_in_poll`, `_brpop_sent_at`, `_flush_brpop_reauth`, `_qos`,
`conn_or_acquire`, `unacked_key` / `unacked_index_key`, `_queue_bind`, `_size`,
`_q_for_pri`; `QoS._remove_from_indices`,
`restore_by_tag`, `restore_visible`, `pipe_or_acquire`, `can_consume_max_estimate`;
`Transport._deliver`; the hub's `on_tick` and `call_later`.
"""

from __future__ import annotations

import time
import uuid
from queue import Empty

import orjson
import redis
from kombu.log import get_logger
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as virtual
from kombu.utils.encoding import bytes_to_str

logger = get_logger(__name__)

RECEIVING_PREFIX = "lvd.receiving"  # lvd.receiving:<consumer>:<queue>
CONSUMER_PREFIX = "lvd.consumer"  # lvd.consumer:<consumer>, alive while it consumes
UNREADABLE_PREFIX = "lvd.unreadable"  # lvd.unreadable:<queue>, messages set aside
ORPHAN_SWEEP_SECONDS = 10
RECEIVE_MAX = 100  # messages taken per wake-up, at most (the prefetch may allow fewer)
# After a wake-up that emptied the queue, a consumer on an event loop waits this long
# before its next BLMOVE, so that a steady trickle arrives a few messages per wake-up.
RECEIVE_REST_SECONDS = 0.01
# Take the first message of a wake-up off the receiving list, record it as kombu's
# QoS.append does (ARGV: delivery tag, stored form, time), then move up to ARGV[4] more
# messages from the queue's consuming end onto that list and return them. The LPOP comes
# first: once a script has written, Redis no longer refuses its writes for memory.
_RECORD_FIRST_MOVE_MORE = """
redis.call('LPOP', KEYS[3])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local moved = {}
for _ = 1, tonumber(ARGV[4]) do
    local message = redis.call('LMOVE', KEYS[4], KEYS[3], 'RIGHT', 'LEFT')
    if not message then break end
    moved[#moved + 1] = message
end
return moved
"""


# Used while Redis refuses writes that need memory (maxmemory reached under noeviction:
# BLMOVE, SET, ZADD, HSET are refused with OOM). Redis refuses such a command in a script
# only before the script's first write, so popping a message first (which frees memory)
# lets the script record it as unacknowledged, as kombu's QoS.append does, in the same
# atomic step. Consuming is what frees the memory, so a worker must keep doing it.
# KEYS: queue, unacked_index, unacked, unreadable list; ARGV: time, most messages.
_TAKE_UNDER_PRESSURE = """
local taken = {}
for _ = 1, tonumber(ARGV[2]) do
    local message = redis.call('RPOP', KEYS[1])
    if not message then break end
    local ok, envelope = pcall(cjson.decode, message)
    local properties = ok and type(envelope) == 'table' and envelope['properties']
    local tag = properties and properties['delivery_tag']
    local delivery = properties and properties['delivery_info']
    if tag and delivery then
        local route = cjson.encode({delivery['exchange'], delivery['routing_key']})
        redis.call('ZADD', KEYS[2], ARGV[1], tag)
        redis.call('HSET', KEYS[3], tag, '[' .. message .. ',' .. string.sub(route, 2))
        taken[#taken + 1] = message
    else
        redis.call('LPUSH', KEYS[4], message)
    end
end
return taken
"""
PRESSURE_RETRY_SECONDS = 2.0  # how long a consumer receives by script before BLMOVE again
PRESSURE_TAKE_MAX = 10  # messages taken per script call under memory pressure


def refuses_for_memory(error: BaseException | None) -> bool:
    """True for Redis' answer to a write it refuses because maxmemory is reached."""
    seen = error
    while seen is not None:  # a refused MULTI raises ExecAbortError from the refusal
        if isinstance(seen, redis.exceptions.OutOfMemoryError) or (
            isinstance(seen, redis.ResponseError) and "maxmemory" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class QoS(kombu_redis.QoS):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._acked: list[str] = []  # acknowledged, still in Redis' unacked records

    def append(self, message, delivery_tag) -> None:
        if self.channel.take_recorded(delivery_tag):  # recorded when it was received
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)

    def ack(self, delivery_tag) -> None:
        if self.channel.connection is None:
            # The channel closed with its connection (e.g. CLIENT KILL) while the task
            # ran: closing it requeued its unacknowledged messages (or, with Redis down,
            # the restore sweep will), so this one runs again (storage is idempotent).
            # Raising here would stop the worker.
            logger.warning("message %s finished after its channel closed", delivery_tag)
            virtual.QoS.ack(self, delivery_tag)
            return
        if not self.channel.connection.on_event_loop:
            super().ack(delivery_tag)
            return
        self._acked.append(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)

    def reject(self, delivery_tag, requeue=False) -> None:
        if self.channel.connection is None:  # closed: its messages were requeued then
            virtual.QoS.ack(self, delivery_tag)
            return
        if not requeue:
            self._forget_in_redis([delivery_tag])
            virtual.QoS.ack(self, delivery_tag)
            return
        try:
            self.restore_by_tag(delivery_tag, leftmost=True)
        except redis.ResponseError as exc:
            # Redis refuses the write (out of memory under noeviction, an ACL): the
            # message stays recorded as unacknowledged and the restore sweep requeues it
            # later. Raising here would stop the worker (an unrecoverable error).
            logger.error(
                "could not requeue message %s (%s): it stays unacknowledged", delivery_tag, exc
            )
        virtual.QoS.ack(self, delivery_tag)  # forget it here either way

    def flush_acks(self) -> None:
        """Drop the acknowledged messages from the unacked records in one round trip.

        Until then a dying worker leaves them to be redelivered: at least once, as
        with any acknowledgement that did not reach Redis.
        """
        if not self._acked:
            return
        tags, self._acked = self._acked, []
        self._forget_in_redis(tags)

    def _forget_in_redis(self, tags: list[str]) -> None:
        """Drop messages from the unacked records; a refusal only means a redelivery."""
        try:
            # Not a MULTI: Redis 7 refuses to queue any command of a transaction once
            # maxmemory is reached, and these deletions are what frees memory then.
            with self.channel.conn_or_acquire() as client:
                pipe = client.pipeline(transaction=False)
                for tag in tags:
                    self._remove_from_indices(tag, pipe)
                pipe.execute()
        except redis.ResponseError as exc:
            logger.error("could not record %d acknowledgement(s): %s", len(tags), exc)

    def restore_unacked(self, client=None) -> None:
        try:
            super().restore_unacked(client)
        except Exception as exc:
            # Closing after a lost connection (e.g. Redis restarted): the channel may no
            # longer reach Redis, and raising here stops the worker. The messages stay
            # recorded as unacknowledged, and the restore sweep requeues them.
            logger.warning("unacknowledged messages left to the restore sweep: %r", exc)
            self._delivered.clear()

    def restore_visible(self, start=0, num=10, interval=10) -> None:
        try:
            super().restore_visible(start, num, interval)
            self.channel.restore_orphans()
        except redis.ResponseError as exc:  # refused writes: the next sweep tries again
            logger.error("restore sweep refused by Redis: %s", exc)


class Channel(kombu_redis.Channel):
    QoS = QoS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.consumer_id = uuid.uuid4().hex
        self._moving_from: str | None = None  # the queue a BLMOVE in flight reads
        # Queues whose BLMOVE reply was lost (a reconnect, a read that failed): what it
        # moved sits on this live consumer's receiving list, which no sweep touches.
        self._unread_moves: set[str] = set()
        self._recorded: set[str] = set()  # recorded unacknowledged, not yet delivered
        self._record_first = None  # the registered _RECORD_FIRST_MOVE_MORE script
        self._rest_until = 0.0  # no BLMOVE before this (time.monotonic)
        self._alive_at = 0.0
        self._swept_at = 0.0
        self._server_moves: bool | None = None
        self._pressure_until = 0.0  # receive by script until then (time.monotonic)
        self._take_under_pressure: str | None = None  # _TAKE_UNDER_PRESSURE's SHA1
        self._taking_under_pressure = False  # the command in flight is that script

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

    def receiving_key(self, queue: str) -> str:
        return f"{RECEIVING_PREFIX}:{self.consumer_id}:{queue}"

    @property
    def alive_key(self) -> str:
        return f"{CONSUMER_PREFIX}:{self.consumer_id}"

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
            return super()._brpop_start(timeout)
        resting = self._rest_until - time.monotonic()
        if resting > 0:  # the event loop calls again on its next turn
            self.connection.wake_loop_after(resting)
            return None
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        queue = queues[0]
        if self._moving_from is not None:  # sent, and its reply never read
            self._unread_moves.add(self._moving_from)
        if self._unread_moves:
            self._requeue_unread_moves()
        self._keep_alive()
        self._moving_from = queue
        self._in_poll = self.client.connection
        self._brpop_sent_at = time.monotonic()
        if time.monotonic() < self._pressure_until:
            self._send_take_under_pressure(queue)
            return
        self.client.connection.send_command(
            "BLMOVE", queue, self.receiving_key(queue), "RIGHT", "LEFT", timeout or 0
        )

    def _requeue_unread_moves(self) -> None:
        """Put back what BLMOVEs whose reply was lost moved onto the receiving lists."""
        with self.conn_or_acquire() as client:
            for queue in sorted(self._unread_moves):
                _requeue_all(client, self.receiving_key(queue), queue)
                self._unread_moves.discard(queue)

    def _send_take_under_pressure(self, queue: str) -> None:
        if self._take_under_pressure is None:  # SCRIPT LOAD needs no memory headroom
            with self.conn_or_acquire() as client:
                self._take_under_pressure = client.script_load(_TAKE_UNDER_PRESSURE)
        keys = [queue, self.unacked_index_key, self.unacked_key, _unreadable_key(queue)]
        self._taking_under_pressure = True
        self.client.connection.send_command(
            "EVALSHA",
            self._take_under_pressure,
            len(keys),
            *keys,
            time.time(),
            PRESSURE_TAKE_MAX,
        )

    def _brpop_read(self, **options) -> bool:
        queue, self._moving_from = self._moving_from, None
        if queue is None:
            return super()._brpop_read(**options)
        under_pressure, self._taking_under_pressure = self._taking_under_pressure, False
        command = "EVALSHA" if under_pressure else "BLMOVE"
        try:
            try:
                first = self.client.parse_response(self.client.connection, command, **options)
            except self.connection_errors:
                self._unread_moves.add(queue)
                self.client.connection.disconnect()
                raise
            except redis.ResponseError as exc:
                if under_pressure and str(exc).startswith("NOSCRIPT"):  # Redis restarted
                    self._take_under_pressure = None
                    raise Empty() from exc
                if not refuses_for_memory(exc):
                    raise
                self._enter_pressure(exc)
                raise Empty() from exc
            if not first:
                if under_pressure:
                    self._rest_until = time.monotonic() + RECEIVE_REST_SECONDS
                raise Empty()
            self._queue_cycle.rotate(queue)
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()
        if under_pressure:
            self._deliver_taken(first, queue)
        else:
            self._receive_moved(first, queue)
        return True

    def _enter_pressure(self, error: Exception) -> None:
        """Redis refused BLMOVE for memory: receive by script for a while, and say why."""
        if time.monotonic() >= self._pressure_until + PRESSURE_RETRY_SECONDS:
            logger.error(
                "Redis refuses writes (%s): this worker keeps consuming, which frees memory, "
                "without BLMOVE until Redis accepts them again",
                error,
            )
        self._pressure_until = time.monotonic() + PRESSURE_RETRY_SECONDS

    def _deliver_taken(self, raws: list[bytes], queue: str) -> None:
        """Deliver messages the pressure script took and recorded as unacknowledged."""
        envelopes, tags = [], []
        for raw in raws:
            read = _read(raw)
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
                read = _read(first)
                if read is None or more <= 0:
                    envelopes, tags = self._record_unacked(client, [first], queue, receiving)
                else:
                    moved = self._record_first_move_more(client, read, queue, receiving, more)
                    if len(moved) < more and self.connection.on_event_loop:
                        # The queue ran dry: let a few messages gather before the next.
                        self._rest_until = time.monotonic() + RECEIVE_REST_SECONDS
                    envelopes, tags = [read[0]], [read[1]]
                    if moved:
                        also = self._record_unacked(client, moved, queue, receiving)
                        envelopes += also[0]
                        tags += also[1]
            except BaseException as exc:
                try:
                    _requeue_all(client, receiving, queue)  # moved and not recorded
                except redis.ResponseError as refused:
                    logger.error(
                        "messages stay on %s until this consumer closes or stops keeping alive: %s",
                        receiving,
                        refused,
                    )
                if refuses_for_memory(exc):
                    self._enter_pressure(exc)
                    raise Empty() from exc
                raise
            self._deliver_recorded(client, envelopes, tags, queue)

    def _record_first_move_more(self, client, read, queue: str, receiving: str, more: int):
        if self._record_first is None:
            self._record_first = client.register_script(_RECORD_FIRST_MOVE_MORE)
        _envelope, tag, stored = read
        keys = [self.unacked_index_key, self.unacked_key, receiving, queue]
        return self._record_first(keys=keys, args=[tag, stored, time.time(), more], client=client)

    def _record_unacked(self, client, raws: list[bytes], queue: str, receiving: str):
        """Record the messages as kombu's QoS.append does, and take them off the receiving
        list, in one MULTI; return their envelopes and delivery tags. A message that is
        not a kombu envelope is set aside on UNREADABLE_PREFIX:<queue> rather than lost
        or received forever."""
        envelopes, tags = [], []
        now = time.time()
        with client.pipeline() as pipe:
            for raw in raws:
                read = _read(raw)
                if read is None:
                    logger.error("set aside an unreadable message of queue %s", queue)
                    pipe.lpush(_unreadable_key(queue), raw)
                    continue
                envelope, tag, stored = read
                pipe.zadd(self.unacked_index_key, {tag: now})
                pipe.hset(self.unacked_key, tag, stored)
                envelopes.append(envelope)
                tags.append(tag)
            pipe.lpop(receiving, len(raws))  # the moves put them at the list's head
            pipe.execute()
        return envelopes, tags

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
            pipe.lpush(_unreadable_key(queue), orjson.dumps(envelope))
            self.qos._remove_from_indices(tag, pipe)
            pipe.execute()

    def _keep_alive(self) -> None:
        now = time.monotonic()
        if now - self._alive_at < self.visibility_timeout / 4:
            return
        try:
            with self.conn_or_acquire() as client:
                client.set(self.alive_key, 1, ex=max(1, int(self.visibility_timeout)))
        except redis.ResponseError as exc:
            if not refuses_for_memory(exc):
                raise
            self._enter_pressure(exc)  # the receiving list stays empty meanwhile
            return
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
                if self._qos is not None:
                    self._qos.flush_acks()
                with self.conn_or_acquire() as client:
                    for queue in self.active_queues:
                        _requeue_all(client, self.receiving_key(queue), queue)
                    client.delete(self.alive_key)
            except self.connection_errors:
                pass  # the sweep requeues it once the consumer key expires
        super().close()


def _read(raw: bytes) -> tuple[dict, str, bytes] | None:
    """A received message's envelope, delivery tag, and the form kombu's QoS stores in the
    unacked hash ([envelope, exchange, routing key], reusing the received bytes); None
    when it is not a kombu envelope."""
    try:
        envelope = orjson.loads(raw)
        properties = envelope["properties"]
        delivery = properties["delivery_info"]
        route = orjson.dumps([delivery["exchange"], delivery["routing_key"]])
        return envelope, properties["delivery_tag"], b"[" + raw + b"," + route[1:]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return None


def _unreadable_key(queue: str) -> str:
    return f"{UNREADABLE_PREFIX}:{queue}"


def _requeue_all(client, receiving: str, queue: str) -> None:
    """Move every message of a receiving list back to the consuming end of its queue."""
    while client.lmove(receiving, queue, "RIGHT", "RIGHT") is not None:
        pass


class Transport(kombu_redis.Transport):
    Channel = Channel
    on_event_loop = False  # acknowledgements are then flushed once per loop iteration
    _loop = None
    _wake_pending = False

    def register_with_event_loop(self, connection, loop) -> None:
        super().register_with_event_loop(connection, loop)
        self.on_event_loop = True
        self._loop = loop
        loop.on_tick.add(self._flush_acks)

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
