"""Who holds each unacknowledged message, and giving a message back when its holder is gone.

Each consumer of the workers' Redis transport (`worker/transport/kombu_redis.py`) has an id and
three kinds of key:

- `lvd.consumer:<id>`, kept alive with a TTL (`consumer_ttl`) while the consumer runs:
  Redis judges its expiry, so no host clock takes part;
- `lvd.owned:<id>`, the delivery tags it recorded in kombu's unacked hash and index, added
  in the same script that records them and removed in the same pipeline as their
  acknowledgement;
- `lvd.receiving:<id>:<queue>`, where its BLMOVE puts a message until it is recorded.

The sweep (`restore_gone_consumers`, run by one worker per restore interval) gives back
the messages of consumers whose key is gone: it requeues their receiving lists and
restores every tag they own. A message is therefore redelivered because its consumer
died, never because it is old: a storage task slower than any timeout runs once while its
worker lives. Entries of the unacked hash that no consumer owns (recorded by an earlier
version of the transport) are restored once older than `ownerless_after` seconds, both
times read from Redis' clock (`TIME`).

`OwnedRecording`, mixed into the transport's Channel, holds the consumer's side: its
keys, the keep-alive, and the scripts that record received messages as unacknowledged
and owned (kombu's unacked hash and index, `Channel.unacked_key` / `unacked_index_key`,
both listed in `worker/transport/library_versions.py`).
"""

from __future__ import annotations

import time

import orjson
import redis
from kombu.log import get_logger
from kombu.utils.encoding import bytes_to_str

from app.worker.transport.redis_pressure import refuses_for_memory, unreadable_key

logger = get_logger(__name__)

RECEIVING_PREFIX = "lvd.receiving"  # lvd.receiving:<consumer>:<queue>
CONSUMER_PREFIX = "lvd.consumer"  # lvd.consumer:<consumer>, alive while it consumes
OWNED_PREFIX = "lvd.owned"  # lvd.owned:<consumer>, the tags it recorded as unacknowledged
SCAN_COUNT = 1000  # the transport's keys sit in the broker database: one SCAN call there
SWEEP_LEASE_KEY = "lvd.sweep"  # set by the worker that sweeps in this interval
OWNERLESS_RESTORE_MAX = 100  # ownerless entries looked at per sweep

# A Lua fragment that sets `now` to Redis' clock, in seconds (kombu's index scores).
REDIS_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
"""

# Record messages as kombu's QoS.append does, owned by this consumer and scored by Redis'
# clock; first pop ARGV[1] messages off the receiving list (once a script has written,
# Redis refuses none of its writes for memory) and set ARGV[2] unreadable ones aside.
# KEYS: unacked_index, unacked, owned, receiving, unreadable.
# ARGV: popped, unreadable count, the unreadable messages, then delivery tag / stored pairs.
RECORD = (
    """
local popped = tonumber(ARGV[1])
if popped > 0 then redis.call('LPOP', KEYS[4], popped) end
local unreadable = tonumber(ARGV[2])
for i = 3, 2 + unreadable do redis.call('LPUSH', KEYS[5], ARGV[i]) end
"""
    + REDIS_NOW
    + """
for i = 3 + unreadable, #ARGV, 2 do
    redis.call('ZADD', KEYS[1], now, ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    redis.call('SADD', KEYS[3], ARGV[i])
end
"""
)

# The first message of a wake-up: take it off the receiving list and record it (as RECORD
# does), then move up to ARGV[3] more from the queue's consuming end onto that list and
# return them. KEYS: unacked_index, unacked, owned, receiving, queue.
# ARGV: delivery tag, stored form, most messages.
RECORD_FIRST_MOVE_MORE = (
    "redis.call('LPOP', KEYS[4])"
    + REDIS_NOW
    + """
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
local moved = {}
for _ = 1, tonumber(ARGV[3]) do
    local message = redis.call('LMOVE', KEYS[5], KEYS[4], 'RIGHT', 'LEFT')
    if not message then break end
    moved[#moved + 1] = message
end
return moved
"""
)


def alive_key_for(consumer: str) -> str:
    return f"{CONSUMER_PREFIX}:{consumer}"


def owned_key_for(consumer: str) -> str:
    return f"{OWNED_PREFIX}:{consumer}"


def receiving_key_for(consumer: str, queue: str) -> str:
    return f"{RECEIVING_PREFIX}:{consumer}:{queue}"


def claim_sweep(client: redis.Redis, interval: float) -> bool:
    """True for the one worker that sweeps in this interval: every worker's timer calls
    for a sweep, and one sweep per interval is enough (one command for the others)."""
    lease_ms = max(100, int(interval * 900))  # a little under the interval: timers drift
    return bool(client.set(SWEEP_LEASE_KEY, 1, nx=True, px=lease_ms))


def refresh_alive_key(client: redis.Redis, consumer: str, ttl: int) -> None:
    """Extend the consumer's key, or create it when it is missing. EXPIRE first: Redis
    accepts it even when maxmemory is reached (under noeviction it refuses SET)."""
    if not client.expire(alive_key_for(consumer), ttl):
        client.set(alive_key_for(consumer), 1, ex=ttl)


def requeue_all(client: redis.Redis, receiving: str, queue: str) -> None:
    """Move every message of a receiving list back to the consuming end of its queue."""
    while client.lmove(receiving, queue, "RIGHT", "RIGHT") is not None:
        pass


def redis_now(client: redis.Redis) -> float:
    seconds, microseconds = client.time()
    return seconds + microseconds / 1_000_000


def _consumers(client: redis.Redis) -> dict[str, dict]:
    """Every consumer with a receiving list or owned tags: id -> its queues and owned key."""
    found: dict[str, dict] = {}
    for key in client.scan_iter(match="lvd.*", count=SCAN_COUNT):
        name = bytes_to_str(key)
        prefix, _, rest = name.partition(":")
        if prefix == RECEIVING_PREFIX:
            consumer, _, queue = rest.partition(":")
            found.setdefault(consumer, {"queues": [], "owned": None})["queues"].append(queue)
        elif prefix == OWNED_PREFIX:
            found.setdefault(rest, {"queues": [], "owned": None})["owned"] = name
    return found


def restore_gone_consumers(qos, client: redis.Redis, ownerless_after: float) -> list[str]:
    """Give back what consumers whose key is gone still hold; return their ids.

    `qos` is a kombu Redis QoS (its restore_by_tag puts a message back on the queues its
    exchange routes to, in one WATCH transaction, so two sweeps never restore one twice).
    """
    consumers = _consumers(client)
    with client.pipeline(transaction=False) as pipe:
        for consumer in consumers:
            pipe.exists(alive_key_for(consumer))
        alive = dict(zip(consumers, pipe.execute(), strict=True))
    gone = [consumer for consumer, is_alive in alive.items() if not is_alive]
    for consumer in gone:
        held = consumers[consumer]
        for queue in held["queues"]:
            requeue_all(client, receiving_key_for(consumer, queue), queue)
        if held["owned"] is not None:
            tags = [bytes_to_str(tag) for tag in client.smembers(held["owned"])]
            for tag in tags:
                qos.restore_by_tag(tag, client=client)
            if tags:  # not DEL: a consumer that comes back may have added tags since
                client.srem(held["owned"], *tags)
        logger.warning("restored what consumer %s held: its keep-alive expired", consumer)
    owners = [consumers[c]["owned"] for c in consumers if alive[c] and consumers[c]["owned"]]
    _restore_ownerless(qos, client, owners, ownerless_after)
    return gone


def _restore_ownerless(qos, client: redis.Redis, owners: list[str], older_than: float) -> None:
    """Restore unacked entries no live consumer owns, once older than `older_than` seconds
    by Redis' clock (an earlier version's, whose consumers did not record an owner)."""
    ceiling = redis_now(client) - older_than
    old = client.zrange(
        qos.unacked_index_key,
        "-inf",
        ceiling,
        byscore=True,
        offset=0,
        num=OWNERLESS_RESTORE_MAX,
    )
    if not old:
        return
    tags = [bytes_to_str(tag) for tag in old]
    owned = [False] * len(tags)
    if owners:
        with client.pipeline(transaction=False) as pipe:
            for key in owners:
                pipe.smismember(key, tags)
            for memberships in pipe.execute():
                owned = [a or bool(b) for a, b in zip(owned, memberships, strict=True)]
    for tag, is_owned in zip(tags, owned, strict=True):
        if not is_owned:
            logger.warning("restored unacknowledged message %s: no consumer owns it", tag)
            qos.restore_by_tag(tag, client=client)


def read_envelope(raw: bytes) -> tuple[dict, str, bytes] | None:
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


class OwnedRecording:
    """The Channel's keys, keep-alive and recording of received messages (mixed into
    `worker/transport/kombu_redis.py`'s Channel, which sets `consumer_id` and `consumer_ttl`)."""

    consumer_id: str
    consumer_ttl: float
    _alive_at = float("-inf")  # the keep-alive's last refresh (time.monotonic)

    def receiving_key(self, queue: str) -> str:
        return receiving_key_for(self.consumer_id, queue)

    @property
    def alive_key(self) -> str:
        return alive_key_for(self.consumer_id)

    @property
    def owned_key(self) -> str:
        return owned_key_for(self.consumer_id)

    def keep_alive(self) -> None:
        """Refresh the consumer's key when a third of its TTL has passed (no command
        otherwise): the sweep gives back what this consumer holds once the key expires."""
        now = time.monotonic()
        if now - self._alive_at < self.consumer_ttl / 3:
            return
        try:
            with self.conn_or_acquire() as client:
                refresh_alive_key(client, self.consumer_id, int(self.consumer_ttl))
        except redis.ResponseError as exc:
            if not refuses_for_memory(exc):
                raise
            self.enter_pressure(exc)  # the receiving list stays empty meanwhile
            return
        self._alive_at = now

    def _script(self, client, source: str):
        if source not in self._scripts:
            self._scripts[source] = client.register_script(source)
        return self._scripts[source]

    def record(self, client, records, popped: int = 0, unreadable=(), queue: str = "") -> None:
        """Record (delivery tag, stored form) pairs as unacknowledged and owned, scored by
        Redis' clock; pop `popped` messages off the receiving list and set `unreadable`
        ones aside, in the same script."""
        keys = [
            self.unacked_index_key,
            self.unacked_key,
            self.owned_key,
            self.receiving_key(queue),
            unreadable_key(queue),
        ]
        args = [popped, len(unreadable), *unreadable]
        for tag, stored in records:
            args += [tag, stored]
        self._script(client, RECORD)(keys=keys, args=args, client=client)

    def _record_first_move_more(self, client, read, queue: str, more: int):
        _envelope, tag, stored = read
        keys = [
            self.unacked_index_key,
            self.unacked_key,
            self.owned_key,
            self.receiving_key(queue),
            queue,
        ]
        script = self._script(client, RECORD_FIRST_MOVE_MORE)
        return script(keys=keys, args=[tag, stored, more], client=client)

    def _record_raws(self, client, raws: list[bytes], queue: str):
        """Record received messages and take them off the receiving list in one script;
        return their envelopes and delivery tags. A message that is not a kombu envelope
        is set aside on UNREADABLE_PREFIX:<queue>, not lost or received forever."""
        envelopes, tags, records, unreadable = [], [], [], []
        for raw in raws:
            read = read_envelope(raw)
            if read is None:
                logger.error("set aside an unreadable message of queue %s", queue)
                unreadable.append(raw)
                continue
            envelope, tag, stored = read
            envelopes.append(envelope)
            tags.append(tag)
            records.append((tag, stored))
        self.record(client, records, popped=len(raws), unreadable=unreadable, queue=queue)
        return envelopes, tags
