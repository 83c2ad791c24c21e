"""Group commit: concurrent requests share one message, and nobody returns before it is sent."""

from __future__ import annotations

import threading

import pytest

from app.ingest.group_commit import GroupPublisher
from app.ingest.shape import Shape
from tests.support.processes import wait_for


class RecordingPublish:
    """A publish function that records each call and can be held to let requests pile up."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[dict], Shape]] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def __call__(self, records: list[dict], shape: Shape) -> str:
        self.entered.set()
        self.release.wait(10)
        self.calls.append((list(records), shape))
        return f"task-{len(self.calls)}"


def _in_thread(publisher, publish, records, shape, results, index):
    def run():
        try:
            results[index] = publisher.submit(records, shape, publish)
        except Exception as exc:  # collected for the assertions
            results[index] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_lone_request_publishes_its_own_record_at_once():
    publish = RecordingPublish()
    task_id = GroupPublisher(500).submit([{"id": "a"}], Shape.SINGLE_EVENT, publish)
    assert task_id == "task-1"
    assert publish.calls == [([{"id": "a"}], Shape.SINGLE_EVENT)]


def test_requests_arriving_during_a_publish_share_the_next_message():
    publisher, publish = GroupPublisher(500), RecordingPublish()
    publish.release.clear()
    results: dict[int, object] = {}
    leader = _in_thread(publisher, publish, [{"id": "first"}], Shape.SINGLE_EVENT, results, 0)
    assert publish.entered.wait(5)
    followers = [
        _in_thread(publisher, publish, [{"id": f"e{n}"}], Shape.SINGLE_EVENT, results, n)
        for n in range(1, 6)
    ]
    wait_for(lambda: len(publisher._pending) == 5, timeout=5)
    assert all(thread.is_alive() for thread in followers)  # nobody answered before the send
    publish.release.set()
    for thread in [leader, *followers]:
        thread.join(5)

    assert publish.calls[0] == ([{"id": "first"}], Shape.SINGLE_EVENT)
    grouped, shape = publish.calls[1]
    assert sorted(record["id"] for record in grouped) == [f"e{n}" for n in range(1, 6)]
    assert shape is Shape.BATCH  # several events travel as one batch task
    assert len(publish.calls) == 2
    assert results[0] == "task-1"
    assert {results[n] for n in range(1, 6)} == {"task-2"}


def test_a_failed_publish_fails_every_request_of_its_group():
    publisher = GroupPublisher(500)
    holding = RecordingPublish()
    holding.release.clear()
    results: dict[int, object] = {}
    leader = _in_thread(publisher, holding, [{"id": "first"}], Shape.SINGLE_EVENT, results, 0)
    assert holding.entered.wait(5)

    def broken(records, shape):
        raise RuntimeError("broker and database both down")

    followers = [
        _in_thread(publisher, broken, [{"id": n}], Shape.SINGLE_EVENT, results, n) for n in (1, 2)
    ]
    wait_for(lambda: len(publisher._pending) == 2, timeout=5)
    holding.release.set()
    for thread in [leader, *followers]:
        thread.join(5)
    assert results[0] == "task-1"
    assert all(isinstance(results[n], RuntimeError) for n in (1, 2))


@pytest.mark.parametrize(("sizes", "groups"), [([3, 3, 3], [[3, 3], [3]]), ([8, 2], [[8], [2]])])
def test_groups_stop_at_max_records_and_never_split_a_batch(sizes, groups):
    publisher, publish = GroupPublisher(7), RecordingPublish()
    publish.release.clear()
    results: dict[int, object] = {}
    leader = _in_thread(publisher, publish, [{"id": "lead"}], Shape.SINGLE_EVENT, results, 0)
    assert publish.entered.wait(5)
    threads = []
    for index, size in enumerate(sizes, start=1):
        batch = [{"id": f"{index}-{n}"} for n in range(size)]
        threads.append(_in_thread(publisher, publish, batch, Shape.BATCH, results, index))
        wait_for(lambda index=index: len(publisher._pending) == index, timeout=5)
    publish.release.set()
    for thread in [leader, *threads]:
        thread.join(5)
    sent = [
        sorted({record["id"].split("-")[0] for record in records})
        for records, _ in publish.calls[1:]
    ]
    expected = []
    first = 1
    for group in groups:
        expected.append([str(n) for n in range(first, first + len(group))])
        first += len(group)
    assert sent == expected
    assert all(not isinstance(result, Exception) for result in results.values())


def _arrive_then_submit(publisher, publish, records, go: threading.Event, results, index):
    """A request that enters arriving() at once but hands its records over only on `go`."""
    entered = threading.Event()

    def run():
        with publisher.arriving():
            entered.set()
            go.wait(10)
            results[index] = publisher.submit(records, Shape.SINGLE_EVENT, publish)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(5)
    return thread


def test_a_leader_waits_for_a_request_still_validating_and_takes_it_along():
    publisher, publish = GroupPublisher(500, linger=5.0), RecordingPublish()
    go, results = threading.Event(), {}
    late = _arrive_then_submit(publisher, publish, [{"id": "late"}], go, results, 1)
    leader = _in_thread(publisher, publish, [{"id": "early"}], Shape.SINGLE_EVENT, results, 0)
    wait_for(lambda: publisher._lingering, timeout=5)
    assert publish.calls == []  # the leader is waiting, not publishing alone
    go.set()
    leader.join(5)
    late.join(5)
    assert len(publish.calls) == 1
    assert sorted(record["id"] for record in publish.calls[0][0]) == ["early", "late"]
    assert results == {0: "task-1", 1: "task-1"}


def test_a_leader_waits_at_most_linger_and_never_for_a_request_that_gave_up():
    publisher, publish = GroupPublisher(500, linger=0.05), RecordingPublish()
    go, results = threading.Event(), {}
    slow = _arrive_then_submit(publisher, publish, [{"id": "slow"}], go, results, 1)
    assert (
        publisher.submit([{"id": "alone"}], Shape.SINGLE_EVENT, publish) == "task-1"
    )  # linger ran out
    go.set()
    slow.join(5)
    assert [call[0] for call in publish.calls] == [[{"id": "alone"}], [{"id": "slow"}]]

    with pytest.raises(ValueError), publisher.arriving():
        raise ValueError("refused while validating")
    assert publisher._arriving == 0  # a refused request is never waited for
