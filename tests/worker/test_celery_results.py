"""Task results: one SET with the configured expiry, and no PUBLISH nobody listens to."""

from __future__ import annotations

import uuid

import redis
from celery import states

from app.celery_results import UnsubscribedRedisBackend


def test_a_stored_result_is_readable_expires_and_is_not_published(app):
    celery_app = app.extensions["celery"]
    backend = celery_app.backend
    assert isinstance(backend, UnsubscribedRedisBackend)
    task_id = str(uuid.uuid4())
    key = backend.get_key_for_task(task_id)
    listener = backend.client.pubsub()
    listener.subscribe(key)
    assert listener.get_message(timeout=1)["type"] == "subscribe"

    backend.store_result(task_id, {"received": 2, "stored": 2}, states.SUCCESS)

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
