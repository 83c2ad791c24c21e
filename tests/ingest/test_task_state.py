"""GET /api/tasks/<id> answers only the app whose events the task holds, and only about them."""

from __future__ import annotations

import uuid

import pytest
from celery import states

from app.celery_client import celery_client
from app.store.task_results import storage_result
from tests.support.factories import make_record
from tests.support.processes import wait_for


def _record_result(app, task_id: str, result: dict) -> None:
    with app.app_context():
        celery_client.app.backend.store_result(task_id, result, states.SUCCESS)


def _read(client, task_id: str, key: str | None):
    headers = {"X-API-Key": key} if key else {}
    return client.get(f"/api/tasks/{task_id}", headers=headers)


def test_a_shared_storage_task_shows_each_app_only_its_own_count(app, client, make_tracked_app):
    first, second, stranger = make_tracked_app(), make_tracked_app(), make_tracked_app()
    records = [make_record(first["id"])] * 3 + [make_record(second["id"])] * 5
    task_id = str(uuid.uuid4())
    _record_result(app, task_id, storage_result(records, 8))

    assert _read(client, task_id, first["key"]).get_json()["result"] == {"received": 3}
    assert _read(client, task_id, second["key"]).get_json()["result"] == {"received": 5}
    refused = _read(client, task_id, stranger["key"])
    assert refused.status_code == 404
    assert first["id"] not in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("lvd_not-a-key", 401)],
)
def test_a_task_read_needs_a_valid_ingest_key(app, client, make_tracked_app, key, status):
    tracked = make_tracked_app()
    task_id = str(uuid.uuid4())
    _record_result(app, task_id, storage_result([make_record(tracked["id"])], 1))
    answer = _read(client, task_id, key)
    assert answer.status_code == status
    assert "result" not in answer.get_json()


def test_a_mail_task_result_is_never_shown(app, client, make_tracked_app):
    tracked = make_tracked_app()
    task_id = str(uuid.uuid4())
    _record_result(app, task_id, {"sent": True, "to": "someone@example.com"})
    answer = _read(client, task_id, tracked["key"])
    assert answer.status_code == 404
    assert "someone@example.com" not in answer.get_data(as_text=True)


def test_the_worker_records_whose_events_a_task_held(app, client, make_tracked_app, default_worker):
    tracked, other = make_tracked_app(), make_tracked_app()
    sent = client.post(
        f"/api/logs/{tracked['id']}/batch",
        json={"events": [{"eventName": "a"}, {"eventName": "b"}]},
        headers={"X-API-Key": tracked["key"]},
    ).get_json()

    def done():
        body = _read(client, sent["task_id"], tracked["key"]).get_json()
        return body["state"] == "SUCCESS" and body

    body = wait_for(done, timeout=20, interval=0.1)
    assert body["result"] == {"received": 2, "stored": 2, "duplicates": 0}
    assert _read(client, sent["task_id"], other["key"]).status_code == 404
