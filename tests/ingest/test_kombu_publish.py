"""The direct Redis publisher writes exactly what Celery's send_task writes, and workers run it."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import redis

from app.ingest.kombu_publish import RedisTaskPublisher
from tests.support.environment import BROKER_DB, TEST_REDIS_URL
from tests.support.factories import app_with, make_record
from tests.support.processes import wait_for


@pytest.fixture
def private_broker_app(app, private_redis):
    with app_with(app, {"CELERY": {"broker_url": private_redis.url}}) as built:
        yield built


def _decoded(raw: bytes) -> dict:
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def test_message_matches_what_send_task_writes(private_broker_app, private_redis):
    celery_app = private_broker_app.extensions["celery"]
    sender = private_broker_app.extensions["celery_send"]
    assert isinstance(sender.__self__, RedisTaskPublisher)
    record = {"id": str(uuid.uuid4()), "payload": {"eventName": "é", "n": [1, 2.5, None]}}
    client = redis.Redis.from_url(private_redis.url)

    celery_app.send_task(
        "process_event_batch",
        args=([record],),
        task_id="task-1",
        argsrepr="<1 record(s)>",
        kwargsrepr="{}",
    )
    sender("process_event_batch", ([record],), "task-1", "<1 record(s)>")

    assert client.llen("default") == 2
    direct, by_celery = (_decoded(raw) for raw in client.lrange("default", 0, 1))
    assert direct["properties"].pop("delivery_tag") != by_celery["properties"].pop("delivery_tag")
    assert direct == by_celery


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("process_event_async", "default"),
        ("process_event_batch", "default"),
        ("send_email_async", "emails"),
        ("batch_process_events", "batch_processing"),
    ],
)
def test_tasks_go_to_the_queue_celery_config_routes_them_to(app, task_name, queue):
    assert app.extensions["celery_send"].__self__.queue_for(task_name) == queue


def test_other_brokers_publish_through_celery(app, tmp_path):
    folder = str(tmp_path)
    config = {
        "CELERY": {
            "broker_url": "filesystem://",
            "broker_transport_options": {
                "data_folder_in": folder,
                "data_folder_out": folder,
                "control_folder": folder,
            },
        }
    }
    with app_with(app, config) as built:
        sender = built.extensions["celery_send"]
        assert not isinstance(getattr(sender, "__self__", None), RedisTaskPublisher)
        sender("process_event_async", ({"id": "x"},), str(uuid.uuid4()), "<1 record(s)>")
        assert len(list(tmp_path.glob("*.default.msg"))) == 1


def test_a_real_worker_stores_what_the_direct_publisher_sent(app, default_worker, make_tracked_app):
    """The session app publishes on the broker the `default` pool consumes (BROKER_DB)."""
    from app.extensions import db
    from app.models import Event

    assert redis.Redis.from_url(f"{TEST_REDIS_URL}/{BROKER_DB}").ping()
    target = make_tracked_app()
    event_id = str(uuid.uuid4())
    record = make_record(
        target["id"],
        id=event_id,
        event_name="direct",
        payload={"eventName": "direct"},
        status="unplanned",
    )
    app.extensions["celery_send"]("process_event_async", (record,), event_id, "<1 record(s)>")

    def stored() -> bool:
        with app.app_context():
            return db.session.get(Event, uuid.UUID(event_id)) is not None

    wait_for(stored, timeout=30)
