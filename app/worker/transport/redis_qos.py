"""Acknowledgements and the restore sweep of the workers' Redis transport
(`worker/transport/kombu_redis.py`).

Acknowledgements on an event loop are flushed together, once per loop iteration
(`flush_acks`), without MULTI (Redis 7 refuses to queue a transaction's commands once
maxmemory is reached, and acknowledging is what frees memory then); each one also drops
the tag from its consumer's owned set. A message that finishes after its channel closed
(a killed connection) is not acknowledged on it. The sweep (`restore_visible`, which
kombu calls every `unacked_restore_interval` seconds) gives back what consumers whose
keep-alive expired hold (`worker/transport/redis_ownership.py`) instead of restoring by age.

Private kombu names (listed in `worker/transport/library_versions.py`): `QoS._remove_from_indices`,
`restore_by_tag`, `restore_unacked`, `restore_visible`, `_vrestore_count`, `_delivered`,
`pipe_or_acquire`, `unacked_mutex_key`, `unacked_mutex_expire`, `Channel.conn_or_acquire`.
"""

from __future__ import annotations

import redis
from kombu.log import get_logger
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as virtual
from kombu.utils.json import dumps

from app.worker.transport import redis_ownership as ownership

logger = get_logger(__name__)
FORGET_CHUNK = 1000  # tags per ZREM / HDEL / SREM when acknowledgements are flushed


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class QoS(kombu_redis.QoS):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._acked: list[str] = []  # acknowledged, still in Redis' unacked records
        # Rejected for requeue while Redis refused the requeue: still recorded and owned
        # by this live consumer, so no sweep would take them; the next sweep tick retries.
        self._requeue_refused: set[str] = set()

    def append(self, message, delivery_tag) -> None:
        if not self.channel.take_recorded(delivery_tag):  # received by kombu's BRPOP
            delivery = message.delivery_info
            stored = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
            with self.channel.conn_or_acquire() as client:
                self.channel.record(client, [(delivery_tag, stored)])
        virtual.QoS.append(self, message, delivery_tag)

    def _remove_from_indices(self, delivery_tag, pipe=None):
        return (
            super()
            ._remove_from_indices(delivery_tag, pipe)
            .srem(self.channel.owned_key, delivery_tag)
        )

    def ack(self, delivery_tag) -> None:
        if self.channel.connection is None:
            # The channel closed with its connection (e.g. CLIENT KILL) while the task
            # ran: closing requeued its unacknowledged messages (or, with Redis down, the
            # sweep will once its keep-alive expires), so this one runs again (storage is
            # idempotent). Raising here would stop the worker.
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
        self._requeue(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # forget it here either way

    def _requeue(self, delivery_tag) -> None:
        try:
            self.restore_by_tag(delivery_tag, leftmost=True)
        except redis.ResponseError as exc:
            # Redis refuses the write (out of memory under noeviction, an ACL): the
            # message stays recorded and owned; the next sweep tick (or, if this worker
            # dies, the sweep of another) requeues it. Raising here would stop the worker.
            logger.error(
                "could not requeue message %s (%s): it stays unacknowledged", delivery_tag, exc
            )
            self._requeue_refused.add(delivery_tag)
        else:
            self._requeue_refused.discard(delivery_tag)

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
            # Three variadic commands for the whole batch, as `_remove_from_indices` does
            # for one tag: three commands per tag cost the storage pool and Redis more.
            with self.channel.conn_or_acquire() as client:
                pipe = client.pipeline(transaction=False)
                for chunk in _chunks(tags, FORGET_CHUNK):
                    pipe.zrem(self.unacked_index_key, *chunk)
                    pipe.hdel(self.unacked_key, *chunk)
                    pipe.srem(self.channel.owned_key, *chunk)
                pipe.execute()
        except redis.ResponseError as exc:
            logger.error("could not record %d acknowledgement(s): %s", len(tags), exc)

    def restore_unacked(self, client=None) -> None:
        try:
            super().restore_unacked(client)
        except Exception as exc:
            # Closing after a lost connection (e.g. Redis restarted): the channel may no
            # longer reach Redis, and raising here stops the worker. The messages stay
            # recorded and owned, and the sweep requeues them once the key expires.
            logger.warning("unacknowledged messages left to the restore sweep: %r", exc)
            self._delivered.clear()

    def restore_visible(self, start=0, num=10, interval=10) -> None:
        """The sweep, in place of kombu's restore by age: give back what consumers whose
        keep-alive expired hold (`redis_ownership.restore_gone_consumers`)."""
        self._vrestore_count += 1
        if (self._vrestore_count - 1) % (interval or 1):
            return
        for tag in sorted(self._requeue_refused):
            self._requeue(tag)
        try:
            with self.channel.conn_or_acquire() as client:
                if not ownership.claim_sweep(client, self.channel.unacked_restore_interval):
                    return  # another worker swept within the interval
                with kombu_redis.Mutex(client, self.unacked_mutex_key, self.unacked_mutex_expire):
                    ownership.restore_gone_consumers(self, client, self.visibility_timeout)
        except kombu_redis.MutexHeld:
            pass
        except redis.ResponseError as exc:  # refused writes: the next sweep tries again
            logger.error("restore sweep refused by Redis: %s", exc)
