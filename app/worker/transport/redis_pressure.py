"""Receiving while Redis refuses writes for memory (maxmemory reached under noeviction).

BLMOVE, SET, ZADD, HSET and SADD are then refused with OOM, yet the worker must keep
consuming, since that is what frees memory. Redis refuses such a command in a script
only before the script's first write, so a script that pops a message first can record
it as unacknowledged (as kombu's QoS.append does, owned by the consumer) in the same
atomic step. A refused BLMOVE switches the consumer to that script for
PRESSURE_RETRY_SECONDS at a time (`PressureReceive`, mixed into the transport's Channel).

Private kombu names used (listed in `worker/transport/library_versions.py`): `Channel.client`'s
connection for sending the script like kombu sends BRPOP, `unacked_key` /
`unacked_index_key`.
"""

from __future__ import annotations

import time

import redis
from kombu.log import get_logger

logger = get_logger(__name__)

PRESSURE_RETRY_SECONDS = 2.0  # how long a consumer receives by script before BLMOVE again
PRESSURE_TAKE_MAX = 10  # messages taken per script call under memory pressure
UNREADABLE_PREFIX = "lvd.unreadable"  # lvd.unreadable:<queue>, messages set aside

# KEYS: queue, unacked_index, unacked, unreadable list, owned; ARGV: most messages.
# (TIME is no write: Redis answers it before the script's first write too.)
TAKE_UNDER_PRESSURE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local taken = {}
for _ = 1, tonumber(ARGV[1]) do
    local message = redis.call('RPOP', KEYS[1])
    if not message then break end
    local ok, envelope = pcall(cjson.decode, message)
    local properties = ok and type(envelope) == 'table' and envelope['properties']
    local tag = properties and properties['delivery_tag']
    local delivery = properties and properties['delivery_info']
    if tag and delivery then
        local route = cjson.encode({delivery['exchange'], delivery['routing_key']})
        redis.call('ZADD', KEYS[2], now, tag)
        redis.call('HSET', KEYS[3], tag, '[' .. message .. ',' .. string.sub(route, 2))
        redis.call('SADD', KEYS[5], tag)
        taken[#taken + 1] = message
    else
        redis.call('LPUSH', KEYS[4], message)
    end
end
return taken
"""


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


def unreadable_key(queue: str) -> str:
    return f"{UNREADABLE_PREFIX}:{queue}"


class PressureReceive:
    """The Channel's receive by script while Redis refuses writes for memory."""

    _pressure_until = 0.0  # receive by script until then (time.monotonic)
    _take_under_pressure: str | None = None  # TAKE_UNDER_PRESSURE's SHA1
    _taking_under_pressure = False  # the command in flight is that script

    def under_pressure(self) -> bool:
        return time.monotonic() < self._pressure_until

    def enter_pressure(self, error: Exception) -> None:
        """Redis refused a write for memory: receive by script for a while, and say why."""
        if time.monotonic() >= self._pressure_until + PRESSURE_RETRY_SECONDS:
            logger.error(
                "Redis refuses writes (%s): this worker keeps consuming, which frees memory, "
                "without BLMOVE until Redis accepts them again",
                error,
            )
        self._pressure_until = time.monotonic() + PRESSURE_RETRY_SECONDS

    def send_take_under_pressure(self, queue: str) -> None:
        if self._take_under_pressure is None:  # SCRIPT LOAD needs no memory headroom
            with self.conn_or_acquire() as client:
                self._take_under_pressure = client.script_load(TAKE_UNDER_PRESSURE)
        keys = [
            queue,
            self.unacked_index_key,
            self.unacked_key,
            unreadable_key(queue),
            self.owned_key,
        ]
        self._taking_under_pressure = True
        self.client.connection.send_command(
            "EVALSHA", self._take_under_pressure, len(keys), *keys, PRESSURE_TAKE_MAX
        )

    def read_take_under_pressure(self, **options) -> list[bytes]:
        """The reply of the script sent by send_take_under_pressure (empty: nothing taken,
        or Redis restarted without the script: it is loaded again next time)."""
        self._taking_under_pressure = False
        try:
            return self.client.parse_response(self.client.connection, "EVALSHA", **options)
        except redis.ResponseError as exc:
            if str(exc).startswith("NOSCRIPT"):
                self._take_under_pressure = None
                return []
            raise
