"""Redis result backend for results that are read, never awaited.

Celery's Redis backend subscribes to a task's result channel on every publish, and
publishes every result on that channel, so that a waiting `.get()` returns at once
(celery#3808). Nothing here ever waits on `.get()`: task states are read with a plain
GET (`/api/tasks/<id>`). Skipping both saves a round trip per published event and a
pipeline plus a PUBLISH per stored message, and keeps publishing independent of the
result store: an outage there must not stall ingestion.
"""

from celery.backends.redis import RedisBackend


class PublishOnlyRedisBackend(RedisBackend):
    def on_task_call(self, producer, task_id) -> None:
        """Do not subscribe: results are read by state lookups, never awaited."""

    def _set(self, key, value, expires=None) -> None:
        """Write the result with one SET; no PUBLISH, since nobody subscribes."""
        if expires is None:
            expires = self.expires
        self.client.set(key, value, ex=expires or None)
