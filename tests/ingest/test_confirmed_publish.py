"""With RabbitMQ the web publishes with confirms and tries a failed publish again before
it falls back to storing the events itself (the nack of a leader election lasts ~0.4 s).
A real nack needs a RabbitMQ cluster losing a node: tests/cluster/test_cluster.py."""

from __future__ import annotations

import pytest
from amqp.exceptions import MessageNacked
from kombu.exceptions import OperationalError

import celery_config
from app.ingest.kombu_publish import ConfirmedSender
from tests.support.factories import app_with


def _sender_failing(times: int, error: Exception, monkeypatch) -> tuple[ConfirmedSender, list]:
    monkeypatch.setattr(ConfirmedSender, "RETRY_WAITS", (0.0, 0.0, 0.0))
    attempts: list[tuple] = []

    def send_once(*args) -> None:
        attempts.append(args)
        if len(attempts) <= times:
            raise error

    sender = ConfirmedSender.__new__(ConfirmedSender)
    sender.send_once = send_once
    return sender, attempts


@pytest.mark.parametrize(
    "failures, error, attempts, published",
    [
        (0, MessageNacked(), 1, True),
        (1, MessageNacked(), 2, True),
        (3, OperationalError(""), 4, True),  # what Celery raised once during an election
        (3, ConnectionResetError(), 4, True),
        (4, MessageNacked(), 4, False),  # then the caller's degraded path
    ],
)
def test_a_failed_publish_is_tried_again_up_to_four_times(
    failures, error, attempts, published, monkeypatch
):
    sender, calls = _sender_failing(failures, error, monkeypatch)
    if published:
        sender("process_event_async", ({"id": "x"},), "task-1", "<1 record(s)>")
    else:
        with pytest.raises(type(error)):
            sender("process_event_async", ({"id": "x"},), "task-1", "<1 record(s)>")
    assert len(calls) == attempts
    assert {call[2] for call in calls} == {"task-1"}  # the same message every time


def test_an_amqp_broker_gets_the_confirmed_sender_and_confirms(app):
    # Port 1: nothing listens, and nothing is sent; choosing the sender does not connect.
    with app_with(app, {"CELERY": {"broker_url": "amqp://guest:guest@127.0.0.1:1//"}}) as built:
        assert isinstance(built.extensions["celery_send"], ConfirmedSender)
    assert celery_config._transport_options("amqp://h1//;amqp://h2//") == {"confirm_publish": True}


@pytest.mark.parametrize(
    "url, setting, quorum",
    [
        ("amqp://guest:guest@10.77.0.21//;amqp://guest:guest@10.77.0.22//", "1", True),
        ("pyamqp://host//", "1", True),
        ("amqp://host//", "0", False),
        ("amqp://host//", None, False),  # the default stays classic queues
        ("redis://host:6379/0", "1", False),  # the direct-Redis path is unchanged
        ("filesystem://", "1", False),
    ],
)
def test_quorum_queues_only_for_amqp_and_only_when_asked(url, setting, quorum):
    env = {} if setting is None else {"BROKER_QUORUM_QUEUES": setting}
    assert celery_config.quorum_queues_for(url, env) is quorum


def test_the_workers_consumer_drops_only_the_delayed_delivery_step():
    from celery.worker.consumer import Consumer as CeleryConsumer

    from app.worker.transport.amqp_consumer import DELAYED_DELIVERY_STEP, Consumer

    celery_steps = CeleryConsumer.Blueprint.default_steps
    assert DELAYED_DELIVERY_STEP in celery_steps  # a rename in Celery fails here
    assert Consumer.Blueprint.default_steps == [
        s for s in celery_steps if s != DELAYED_DELIVERY_STEP
    ]
