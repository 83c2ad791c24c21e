"""Redis result backend: results `.get()` can wait for, except the storage hot path's.

Celery's Redis backend subscribes to a task's result channel on every publish, and
publishes every result on that channel, so that a waiting `.get()` returns at once
(celery#3808). Nothing subscribes at publish time here: `.get()` subscribes when it is
called, then reads the stored result, so a result written before or after is seen.

Results are published (SET + PUBLISH) for every task but the storage tasks
(`process_event_async`, `process_event_batch`), which run once per accepted message:
their results are written with one SET and are read by state lookup
(`GET /api/tasks/<id>`, `AsyncResult.state`), never awaited with `.get()` (docs/api.md,
"task results"). That saves a round trip per published event and a PUBLISH per stored
message, and keeps publishing independent of the result store: an outage there must
not stall ingestion.

Private Celery names it relies on (checked by `worker/transport/library_versions.py` and its test):
`RedisBackend._set` (the write that would PUBLISH; no public hook replaces it) and
`RedisBackend._get_result_meta` (the stored result's shape, for several results written
in one pipeline, which Celery's public `store_result` cannot do). The web tier reads
task states through it too, which is why it sits beside the client and not in `worker/`.
"""

import threading
from collections.abc import Callable, Iterable

from celery.backends.redis import RedisBackend

from celery_config import STORAGE_TASKS

# Whether the result being written belongs to a storage task: set around the one
# synchronous `store_result` call of this thread (a worker child, or a thread of a pool).
_writing = threading.local()


class UnsubscribedRedisBackend(RedisBackend):
    def on_task_call(self, producer, task_id) -> None:
        """Do not subscribe at publish time: `.get()` subscribes when it is called."""

    def store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        """Store a task's result; publish it unless the task is a storage task."""
        _writing.unpublished = getattr(request, "task", None) in STORAGE_TASKS
        try:
            return super().store_result(task_id, result, state, traceback, request, **kwargs)
        finally:
            _writing.unpublished = False

    def _set(self, key, value, expires=None) -> None:
        """Write the result; a storage task's with one SET and no PUBLISH."""
        if not getattr(_writing, "unpublished", False):
            super()._set(key, value, expires)
            return
        if expires is None:
            expires = self.expires
        self.client.set(key, value, ex=expires or None)

    def store_results(
        self,
        outcomes: Iterable[tuple[str, object]],
        state: str,
        also: Callable[[object], None] | None = None,
    ) -> None:
        """Write several storage messages' results (task id, result) in one pipeline
        round trip, unpublished; `also(pipeline)` may add other writes to the same trip.

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
