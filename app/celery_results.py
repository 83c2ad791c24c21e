"""Redis result backend for results that are read, never awaited.

Celery's Redis backend subscribes to a task's result channel on every publish, and
publishes every result on that channel, so that a waiting `.get()` returns at once
(celery#3808). Nothing here ever waits on `.get()`: task states are read with a plain
GET (`/api/tasks/<id>`). Skipping both saves a round trip per published event and a
pipeline plus a PUBLISH per stored message, and keeps publishing independent of the
result store: an outage there must not stall ingestion.

Private Celery names it relies on (checked by `worker/transport/library_versions.py` and its test):
`RedisBackend._set` (the write that would PUBLISH; no public hook replaces it) and
`RedisBackend._get_result_meta` (the stored result's shape, for several results written
in one pipeline, which Celery's public `store_result` cannot do). The web tier reads
task states through it too, which is why it sits beside the client and not in `worker/`.
"""

from collections.abc import Callable, Iterable

from celery.backends.redis import RedisBackend


class UnsubscribedRedisBackend(RedisBackend):
    def on_task_call(self, producer, task_id) -> None:
        """Do not subscribe: results are read by state lookups, never awaited."""

    def _set(self, key, value, expires=None) -> None:
        """Write the result with one SET; no PUBLISH, since nobody subscribes."""
        if expires is None:
            expires = self.expires
        self.client.set(key, value, ex=expires or None)

    def store_results(
        self,
        outcomes: Iterable[tuple[str, object]],
        state: str,
        also: Callable[[object], None] | None = None,
    ) -> None:
        """Write several tasks' results (task id, result) in one pipeline round trip;
        `also(pipeline)` may add other writes to the same round trip.

        Unlike store_result, nothing is read first: Celery reads a result before writing
        it so that a lost task's rerun cannot overwrite its SUCCESS; callers of this
        method write results of messages that nothing had completed before.
        """
        with self.client.pipeline(transaction=False) as pipe:
            for task_id, result in outcomes:
                meta = self._get_result_meta(
                    result=self.encode_result(result, state),
                    state=state,
                    traceback=None,
                    request=None,
                )
                meta["task_id"] = task_id
                pipe.set(self.get_key_for_task(task_id), self.encode(meta), ex=self.expires or None)
            if also is not None:
                also(pipe)
            pipe.execute()
