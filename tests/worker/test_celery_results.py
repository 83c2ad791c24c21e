"""Task results: storage results are one SET with the configured expiry and no PUBLISH
nobody listens to; every other task's result is published, so `.get()` returns at once."""

from __future__ import annotations

import time
import uuid

import redis
from celery import states
from celery.app.task import Context

from app.celery_results import UnsubscribedRedisBackend
from celery_config import STORE_BATCH_TASK, SUMMARIZE_APP_TASK


def test_a_storage_result_is_readable_expires_and_is_not_published(app):
    celery_app = app.extensions["celery"]
    backend = celery_app.backend
    assert isinstance(backend, UnsubscribedRedisBackend)
    task_id = str(uuid.uuid4())
    key = backend.get_key_for_task(task_id)
    listener = backend.client.pubsub()
    listener.subscribe(key)
    assert listener.get_message(timeout=1)["type"] == "subscribe"

    storage = Context(id=task_id, task=STORE_BATCH_TASK)
    backend.store_result(task_id, {"received": 2, "stored": 2}, states.SUCCESS, request=storage)

    assert backend.get_state(task_id) == states.SUCCESS
    assert backend.get_result(task_id) == {"received": 2, "stored": 2}
    ttl = redis.Redis.from_url(backend.url).ttl(key)
    assert 0 < ttl <= celery_app.conf.result_expires
    assert listener.get_message(timeout=0.5) is None
    listener.close()


def test_several_results_are_written_together_readable_and_expiring(app):
    celery_app = app.extensions["celery"]
    backend = celery_app.backend
    outcomes = [(str(uuid.uuid4()), {"received": n, "stored": n}) for n in (1, 2, 3)]
    backend.store_results(outcomes, states.SUCCESS)

    raw = redis.Redis.from_url(backend.url)
    for task_id, outcome in outcomes:
        assert backend.get_state(task_id) == states.SUCCESS
        assert backend.get_result(task_id) == outcome
        assert 0 < raw.ttl(backend.get_key_for_task(task_id)) <= celery_app.conf.result_expires


def test_another_tasks_result_is_published(app):
    backend = app.extensions["celery"].backend
    task_id = str(uuid.uuid4())
    listener = backend.client.pubsub()
    listener.subscribe(backend.get_key_for_task(task_id))
    assert listener.get_message(timeout=1)["type"] == "subscribe"

    summary = Context(id=task_id, task=SUMMARIZE_APP_TASK)
    backend.store_result(task_id, {"events": 0}, states.SUCCESS, request=summary)

    message = listener.get_message(timeout=2)
    assert message is not None and message["type"] == "message"
    assert backend.get_result(task_id) == {"events": 0}
    listener.close()


def test_get_returns_the_result_of_a_task_on_a_real_worker(app, make_tracked_app, batch_worker):
    """`.get()` on a batch_process_events run returns its summary, long before its timeout."""
    target = make_tracked_app()
    celery_app = app.extensions["celery"]
    started = time.monotonic()
    summary = celery_app.send_task(SUMMARIZE_APP_TASK, args=[target["id"]]).get(timeout=60)
    waited = time.monotonic() - started
    assert summary["app_id"] == target["id"], summary
    # Not a timing test: before, .get() waited out its whole timeout (and raised).
    assert waited < 30, waited
