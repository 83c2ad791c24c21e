"""Redis result backend that does not SUBSCRIBE to each task's channel when publishing.

Celery's Redis backend subscribes to a task's result channel on every publish so that a
later `.get()` returns quickly (celery#3808). Nothing here ever waits on `.get()`: task
states are read with a plain GET. Skipping the subscription saves a round trip per event
and keeps publishing independent of the result store: an outage there must not stall
ingestion.
"""

from celery.backends.redis import RedisBackend


class PublishOnlyRedisBackend(RedisBackend):
    def on_task_call(self, producer, task_id) -> None:
        """Do not subscribe: results are read by state lookups, never awaited."""
