"""Which storage messages the worker holds for a group job, and which go alone at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.worker.transport.celery_grouping import StorageBatcher


class Prefetch:
    def __init__(self) -> None:
        self.value = 8

    def increment_eventually(self) -> None:
        self.value += 1

    def decrement_eventually(self) -> None:
        self.value -= 1


def _consumer():
    timers = []
    timer = SimpleNamespace(call_after=lambda secs, fun: timers.append((secs, fun)) or object())
    return SimpleNamespace(qos=Prefetch(), timer=timer, pool=None, restart_count=0), timers


def _message(size: int = 600, **headers) -> SimpleNamespace:
    return SimpleNamespace(
        body=b"x" * size,
        headers={"id": "t", "task": "process_event_async", "retries": 0, **headers},
    )


@pytest.mark.parametrize(
    ("message", "held"),
    [
        (_message(), True),
        (_message(retries=1), False),  # a retry keeps its countdown and retry count
        (_message(eta="2026-11-21T12:00:00+00:00"), False),
        (_message(expires="2026-11-21T12:00:00+00:00"), False),
        (_message(size=300_000), True),  # big ones too: the child decodes them, not main
    ],
)
def test_only_small_plain_messages_are_held(message, held):
    consumer, timers = _consumer()
    batcher = StorageBatcher(consumer, max_bytes=1024 * 1024, wait_seconds=0.05, max_held=10)
    assert batcher.offer(message, None, None, None, None, fallback=None) is held
    assert consumer.qos.value == (9 if held else 8)  # a held message frees a prefetch slot
    assert len(timers) == (1 if held else 0)


def test_holding_stops_raising_prefetch_at_max_held_and_at_eight_groups_of_bytes():
    consumer, _timers = _consumer()
    batcher = StorageBatcher(consumer, max_bytes=1024 * 1024, wait_seconds=0.05, max_held=3)
    for _ in range(5):
        assert batcher.offer(_message(), None, None, None, None, fallback=None)
    assert consumer.qos.value == 8 + 3

    consumer, _timers = _consumer()
    batcher = StorageBatcher(consumer, max_bytes=1000, wait_seconds=60, max_held=100)
    batcher.flush = lambda: None  # keep everything held
    for _ in range(12):
        assert batcher.offer(_message(size=1000), None, None, None, None, fallback=None)
    assert consumer.qos.value == 8 + 8  # 8 x max_bytes held, then no more room


def test_zero_bytes_turns_holding_off():
    off = StorageBatcher(_consumer()[0], max_bytes=0, wait_seconds=0.05, max_held=3)
    assert off.offer(_message(), None, None, None, None, fallback=None) is False
