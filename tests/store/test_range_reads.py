"""The dashboard's 24 h and 7 d stats and errors equal a direct count over raw events, read
from counters alone before any rollup, from rollups plus counters once they ran, and from
counters again for the hours a rollup has not covered yet."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import text

from app.extensions import db
from app.store.events import store_events
from app.store.ranges import RANGES
from app.store.reads import range_counts as range_stats
from app.store.reads import range_errors
from app.store.rollups import compute as rollups
from app.store.rollups import marks as rollup_marks
from app.store.rollups.compute import floor_hour, floor_minute
from tests.background import random_records
from tests.support.factories import uuid7_at

# Three hours after a midnight: the 24 h range starts mid-hour and crosses a day boundary.
NOW = datetime(2026, 11, 22, 3, 20, 30, tzinfo=UTC)


def _store_between(app_id: str, rng: random.Random, count: int, since: datetime) -> None:
    span = (NOW - since).total_seconds()
    moments = [since + timedelta(seconds=rng.uniform(0, span)) for _ in range(count)]
    records = random_records(app_id, moments, rng)
    for record, moment in zip(records, moments, strict=True):
        record["id"] = uuid7_at(moment, rng)
    assert store_events(records) == count


def _direct_counts(app_id: str, since: datetime) -> dict[str, int]:
    rows = db.session.execute(
        text(
            "SELECT status, count(*) FROM events WHERE app_id = :app AND received_at >= :since "
            "GROUP BY status"
        ),
        {"app": app_id, "since": since},
    )
    return {"valid": 0, "invalid": 0, "unplanned": 0, **dict(rows.all())}


def _direct_groups(app_id: str, since: datetime) -> dict[tuple, int]:
    rows = db.session.execute(
        text(
            "SELECT event_name, e->>'path', e->>'keyword', count(DISTINCT id) "
            "FROM events, jsonb_array_elements(errors) e WHERE app_id = :app "
            "AND status = 'invalid' AND received_at >= :since GROUP BY 1, 2, 3"
        ),
        {"app": app_id, "since": since},
    )
    return {tuple(row[:3]): row[3] for row in rows}


def _assert_equal_to_raw(app_id: str) -> list[str]:
    """Compare both ranges with a direct count; return the sources the stats read."""
    sources = []
    for name in ("24h", "7d"):
        window = RANGES[name]
        answer = range_stats.range_stats(uuid.UUID(app_id), window, now=NOW)
        direct = _direct_counts(app_id, floor_minute(window.start(NOW)))
        assert answer["counts"] == direct, name
        for status, total in direct.items():
            assert sum(answer["series"][status]) == total, (name, status)
        errors = range_errors.range_errors(uuid.UUID(app_id), window, now=NOW, limit=100)
        assert errors["since"] == floor_hour(window.start(NOW)).isoformat()
        assert not errors["truncated"]
        got = {(g["event_name"], g["path"], g["keyword"]): g["count"] for g in errors["groups"]}
        assert got == _direct_groups(app_id, floor_hour(window.start(NOW))), name
        assert all(g["message"] and g["example_ids"] for g in errors["groups"])
        rolled = rollup_marks.complete_hours(uuid.UUID(app_id))
        for bucket_seconds in (window.bucket_seconds, 86400):  # the chart's, the totals'
            plan = range_stats.plan(window.start(NOW), NOW, rolled, bucket_seconds)
            sources += [segment.source for segment in plan]
    return sources


@pytest.fixture
def results_store(app):
    with app.app_context():
        backend = app.extensions["celery"].backend
        yield backend
        for key in backend.client.scan_iter(rollup_marks.KEY_PREFIX + "*"):
            backend.client.delete(key)


def test_long_ranges_equal_a_direct_count_before_during_and_after_rollups(
    app, make_tracked_app, results_store
):
    target = make_tracked_app()
    app_id = target["id"]
    rng = random.Random(12)
    with app.app_context():
        _store_between(app_id, rng, 1200, NOW - timedelta(days=8))
        # No rollup has run: everything comes from the counters and raw events.
        assert set(_assert_equal_to_raw(app_id)) == {"minute"}

        # A run three hours ago: its hours come from rollups, the later ones from counters.
        earlier = NOW - timedelta(hours=3)
        rollups.roll_up(uuid.UUID(app_id), hours=24 * 8, now=earlier)
        rollup_marks.record_run(
            results_store, uuid.UUID(app_id), earlier - timedelta(days=8), earlier
        )
        _store_between(app_id, rng, 300, NOW - timedelta(hours=4))  # some late for rolled hours
        rollups.roll_up(uuid.UUID(app_id), hours=4, now=earlier + timedelta(minutes=1))
        assert set(_assert_equal_to_raw(app_id)) == {"minute", "hour", "day"}

        # The next run covers them; the current hour still comes from the counters.
        rollups.roll_up(uuid.UUID(app_id), hours=5, now=NOW)
        rollup_marks.record_run(results_store, uuid.UUID(app_id), NOW - timedelta(hours=5), NOW)
        through = rollup_marks.complete_hours(uuid.UUID(app_id))[1]
        assert through == floor_hour(NOW)
        assert set(_assert_equal_to_raw(app_id)) == {"minute", "hour", "day"}


def test_rolled_up_interval_widens_and_a_newer_disjoint_run_replaces_it(app, results_store):
    app_id = uuid.uuid4()
    day = datetime(2026, 11, 20, tzinfo=UTC)
    record = rollup_marks.record_run
    record(results_store, app_id, day, day + timedelta(hours=5))
    assert rollup_marks.complete_hours(app_id) == (day, day + timedelta(hours=4))
    record(results_store, app_id, day + timedelta(hours=3), day + timedelta(hours=9))
    assert rollup_marks.complete_hours(app_id) == (day, day + timedelta(hours=8))
    record(results_store, app_id, day - timedelta(hours=30), day - timedelta(hours=20))
    assert rollup_marks.complete_hours(app_id) == (day, day + timedelta(hours=8))
    record(results_store, app_id, day + timedelta(hours=20), day + timedelta(hours=23))
    assert rollup_marks.complete_hours(app_id) == (
        day + timedelta(hours=20),
        day + timedelta(hours=22),
    )


def test_a_missing_or_unreachable_mark_means_counters(app, results_store, monkeypatch):
    app_id = uuid.uuid4()
    assert rollup_marks.complete_hours(app_id) is None
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    monkeypatch.setitem(app.extensions, "live_marks_reader", dead)
    assert rollup_marks.complete_hours(app_id) is None
