"""Day partitions of `events` (PostgreSQL): creation is idempotent, expired days go with
their counters, storage and ingestion go on meanwhile, eventIds stay unique across days,
concurrent maintainers agree.

Each test works on days of its own far in the past, so that its partitions meet no other
test's; the fixture drops them afterwards.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import text

from app.extensions import db
from app.store import partitions
from app.store.events import store_events
from tests.background import counters_equal_rows, event_id_at
from tests.support.factories import make_record
from tests.support.processes import wait_for


def at(day: date, hour: int = 12, minute: int = 0, second: float = 0) -> datetime:
    whole = int(second)
    return datetime.combine(day, time(hour, minute, whole, int((second - whole) * 1e6)), tzinfo=UTC)


def record_at(app_id: str, moment: datetime, **fields) -> dict:
    """A record whose UUIDv7 id and received_at are both `moment`, as ingest makes them."""
    return make_record(app_id, id=event_id_at(moment), received_at=moment.isoformat(), **fields)


def catalog() -> list[tuple]:
    """Every partition of events with its bounds, indexes and constraints (pg_inherits)."""
    rows = db.session.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), "
            "(SELECT string_agg(pg_get_indexdef(x.indexrelid), '; ' ORDER BY 1) "
            " FROM pg_index x WHERE x.indrelid = c.oid), "
            "(SELECT string_agg(pg_get_constraintdef(k.oid), '; ' ORDER BY 1) "
            " FROM pg_constraint k WHERE k.conrelid = c.oid) "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass ORDER BY 1"
        )
    ).all()
    return [tuple(row) for row in rows]


def partition_of(event_id: str) -> str:
    return db.session.scalar(
        text("SELECT tableoid::regclass::text FROM events WHERE id = :id"), {"id": event_id}
    )


def app_rows(app_id: str) -> int:
    return db.session.scalar(
        text("SELECT count(*) FROM events WHERE app_id = :app"), {"app": app_id}
    )


@pytest.fixture
def old_days(app):
    """Drop every day partition a test made (all of them are before 2025-06)."""
    yield
    with app.app_context():
        partitions.drop_expired_partitions(datetime(2025, 6, 1, tzinfo=UTC), keep_days=0)
        assert not [d for d in partitions.day_partitions() if d < date(2025, 6, 1)]


def test_creating_partitions_twice_changes_nothing_the_second_time(app, old_days):
    first_day = date(2024, 1, 10)
    with app.app_context():
        before = catalog()
        created = partitions.create_partitions(first_day, days_ahead=7)
        assert created == [
            partitions.partition_name(first_day + timedelta(days=n)) for n in range(8)
        ]
        after_first = catalog()
        assert len(after_first) == len(before) + 8
        # Each new day has the parent's indexes (the status and test-run ones partial) and
        # check; no foreign key since migration 0006.
        new = dict((row[0], row) for row in after_first)[created[0]]
        assert new[2].count("CREATE") == 6 and "WHERE ((status)::text <> 'valid'" in new[2]
        assert "(app_id, test_run, id) WHERE (test_run IS NOT NULL)" in new[2]
        assert "CHECK" in new[3] and "FOREIGN KEY" not in new[3]
        assert partitions.create_partitions(first_day, days_ahead=7) == []
        assert catalog() == after_first


def test_retention_drops_exactly_the_expired_partitions_and_their_counters(
    app, make_tracked_app, old_days
):
    first_day = date(2024, 2, 1)
    days = [first_day + timedelta(days=n) for n in range(6)]
    mine, other = make_tracked_app(), make_tracked_app()
    with app.app_context():
        partitions.create_partitions(first_day, days_ahead=5)
        for target in (mine, other):
            store_events([record_at(target["id"], at(day, h)) for day in days for h in (0, 9, 23)])
        # Received a millisecond before midnight, its id made a millisecond after: it lives
        # in the next day's partition, and its counter goes when that partition goes.
        straddler = make_record(
            mine["id"],
            id=event_id_at(at(days[2], 0, 0, 0.001)),
            received_at=at(days[1], 23, 59, 59.999).isoformat(),
        )
        store_events([straddler])
        assert partition_of(straddler["id"]) == partitions.partition_name(days[2])
        before = catalog()

        # Keep 2 days at noon of days[5]: days[0..2] ended before days[3] 12:00.
        dropped = partitions.drop_expired_partitions(at(days[5]), keep_days=2)

        assert dropped == [partitions.partition_name(day) for day in days[:3]]
        assert catalog() == [row for row in before if row[0] not in dropped]
        for target in (mine, other):
            assert app_rows(target["id"]) == 3 * 3
            assert counters_equal_rows(target["id"])
        old_counters = db.session.scalar(
            text("SELECT count(*) FROM event_counts WHERE app_id = :app AND minute < :day"),
            {"app": mine["id"], "day": at(days[3], 0)},
        )
        assert old_counters == 0
        assert partitions.drop_expired_partitions(at(days[5]), keep_days=2) == []


def test_a_client_retry_across_a_partition_boundary_is_stored_once(app, make_tracked_app, old_days):
    yesterday, today = date(2024, 3, 4), date(2024, 3, 5)
    target = make_tracked_app()
    with app.app_context():
        partitions.create_partitions(yesterday, days_ahead=1)
        first = record_at(target["id"], at(yesterday, 23, 59, 50), client_event_id="retry-me")
        assert store_events([first]) == 1
        assert partition_of(first["id"]) == partitions.partition_name(yesterday)
        # The retry gets a new server id, made today: alone, and in a batch with a new event.
        retry = record_at(target["id"], at(today, 0, 0, 10), client_event_id="retry-me")
        assert store_events([retry]) == 0
        fresh = record_at(target["id"], at(today, 0, 0, 11), client_event_id="fresh")
        again = record_at(target["id"], at(today, 0, 0, 12), client_event_id="retry-me")
        assert store_events([again, fresh]) == 1
        # A redelivery of the first record (same server id) is recognised too.
        assert store_events([first]) == 0
        stored = db.session.execute(
            text("SELECT client_event_id, id FROM events WHERE app_id = :app ORDER BY 1"),
            {"app": target["id"]},
        ).all()
        assert [(name, str(event_id)) for name, event_id in stored] == [
            ("fresh", fresh["id"]),
            ("retry-me", first["id"]),
        ]
        assert counters_equal_rows(target["id"])


def test_two_concurrent_maintenance_runs_give_the_result_of_one(app, make_tracked_app, old_days):
    first_day = date(2024, 4, 1)
    target = make_tracked_app()
    with app.app_context():
        partitions.create_partitions(first_day, days_ahead=3)
        store_events(
            [record_at(target["id"], at(first_day + timedelta(days=n), 6)) for n in range(4)]
        )
    start = threading.Barrier(2)
    outcomes = []

    def maintain() -> None:
        with app.app_context():
            start.wait()
            created = partitions.create_partitions(first_day + timedelta(days=2), days_ahead=4)
            dropped = partitions.drop_expired_partitions(
                at(first_day + timedelta(days=4)), keep_days=2
            )
            outcomes.append((created, dropped))

    runs = [threading.Thread(target=maintain) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert len(outcomes) == 2
    # Between them, each partition was created once and dropped once.
    created = sorted(name for run_created, _ in outcomes for name in run_created)
    dropped = sorted(name for _, run_dropped in outcomes for name in run_dropped)
    assert created == [partitions.partition_name(first_day + timedelta(days=n)) for n in (4, 5, 6)]
    assert dropped == [partitions.partition_name(first_day + timedelta(days=n)) for n in (0, 1)]
    with app.app_context():
        mine = [d for d in partitions.day_partitions() if d.year == 2024 and d.month == 4]
        assert mine == [first_day + timedelta(days=n) for n in range(2, 7)]
        assert app_rows(target["id"]) == 2
        assert counters_equal_rows(target["id"])


def test_ingestion_and_storage_keep_working_while_maintenance_runs(
    app, client, make_tracked_app, default_worker, old_days
):
    target = make_tracked_app()
    headers = {"X-API-Key": target["key"]}
    stop = threading.Event()
    cycles = []

    def maintain_repeatedly() -> None:
        """Create and drop old partitions again and again (ACCESS EXCLUSIVE on events)."""
        with app.app_context():
            day = date(2024, 5, 1)
            while not stop.is_set() or len(cycles) < 3:
                created = partitions.create_partitions(day, days_ahead=2)
                dropped = partitions.drop_expired_partitions(at(day + timedelta(days=2), 0), 0)
                cycles.append((created, dropped))
                day += timedelta(days=1)

    maintainer = threading.Thread(target=maintain_repeatedly)
    maintainer.start()
    try:
        task_ids = []
        for i in range(20):
            batch = [{"eventName": "screen_view", "eventId": f"m-{i}-{j}"} for j in range(20)]
            answer = client.post(
                f"/api/logs/{target['id']}/batch", json={"events": batch}, headers=headers
            )
            assert answer.status_code == 202
            task_ids.append(answer.get_json()["task_id"])
            answer = client.post(
                f"/api/logs/{target['id']}",
                json={"eventName": "user_login", "eventId": f"s-{i}"},
                headers=headers,
            )
            assert answer.status_code == 202
            task_ids.append(answer.get_json()["task_id"])
        # A client retry of half the batches: stored nothing more.
        for i in range(10):
            batch = [{"eventName": "screen_view", "eventId": f"m-{i}-{j}"} for j in range(20)]
            answer = client.post(
                f"/api/logs/{target['id']}/batch", json={"events": batch}, headers=headers
            )
            task_ids.append(answer.get_json()["task_id"])
        results = [app.extensions["celery"].AsyncResult(task_id) for task_id in task_ids]
        wait_for(lambda: all(result.ready() for result in results), timeout=120, interval=0.5)
    finally:
        stop.set()
        maintainer.join()
    assert all(result.successful() for result in results)
    assert sum(result.result["stored"] for result in results) == 20 * 21
    assert all(created and dropped for created, dropped in cycles)
    with app.app_context():
        assert app_rows(target["id"]) == 20 * 21
        assert counters_equal_rows(target["id"])
        # The id is made at ingest: its time and received_at agree (a generous second,
        # only to catch a clock or an id taken from somewhere else).
        skew = db.session.scalar(
            text(
                "SELECT max(abs(extract(epoch FROM received_at) - "
                "('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint / 1000.0)) "
                "FROM events WHERE app_id = :app"
            ),
            {"app": target["id"]},
        )
        assert skew < 1.0
        today = partitions.partition_name(datetime.now(UTC).date())
        where = (
            db.session.execute(
                text("SELECT DISTINCT tableoid::regclass::text FROM events WHERE app_id = :app"),
                {"app": target["id"]},
            )
            .scalars()
            .all()
        )
        # Around midnight some rows may already be in the next day's partition.
        assert set(where) <= {
            today,
            partitions.partition_name(datetime.now(UTC).date() + timedelta(days=1)),
        }


def test_an_id_outside_every_day_partition_lands_in_the_default_and_moves_out(
    app, make_tracked_app, old_days
):
    target = make_tracked_app()
    day = date(2024, 6, 3)
    with app.app_context():
        early = record_at(target["id"], at(day, 8))
        assert store_events([early]) == 1
        assert partition_of(early["id"]) == partitions.DEFAULT_PARTITION
        partitions.create_partitions(day, days_ahead=0)
        assert partition_of(early["id"]) == partitions.partition_name(day)
        assert app_rows(target["id"]) == 1
        assert counters_equal_rows(target["id"])
        assert uuid.UUID(early["id"]) >= partitions.day_bound(day)
