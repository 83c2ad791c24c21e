"""Rollups equal a direct recount of raw events, across hour and day boundaries and late
events; new violations are the groups first seen inside the window; reads fill every step."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.background import alerts
from app.extensions import db
from app.models import ErrorGroup
from app.store.events import store_events
from app.store.rollups import compute as rollups
from tests.background import (
    direct_counts,
    direct_error_groups,
    invalid_errors,
    random_records,
    rollup_counts,
    rollup_error_group_hours,
    store_at,
)
from tests.store import rollup_tables as rollup_reads

# Two days around a midnight, so hours and days both have boundaries inside.
NOW = datetime(2026, 11, 22, 2, 40, tzinfo=UTC)


def _moments(rng: random.Random, count: int, since: datetime, until: datetime) -> list[datetime]:
    span = (until - since).total_seconds()
    return [since + timedelta(seconds=rng.uniform(0, span)) for _ in range(count)]


def _assert_rollups_equal_raw(app_id: str) -> None:
    assert rollup_counts(app_id, "rollup_hourly", "hour") == direct_counts(app_id, "hour")
    assert rollup_counts(app_id, "rollup_daily", "day") == direct_counts(app_id, "day")
    assert rollup_error_group_hours(app_id) == direct_error_groups(app_id)


def test_rollups_equal_a_direct_count_including_late_events(app, make_tracked_app):
    target = make_tracked_app()
    rng = random.Random(13)
    with app.app_context():
        moments = _moments(rng, 1500, NOW - timedelta(hours=30), NOW)
        assert store_events(random_records(target["id"], moments, rng)) == 1500
        result = rollups.roll_up(uuid.UUID(target["id"]), hours=31, now=NOW)
        assert result["total"] == 1500
        _assert_rollups_equal_raw(target["id"])

        # Late events for hours already rolled up (yesterday evening, and before midnight).
        late = _moments(rng, 200, NOW - timedelta(hours=6), NOW - timedelta(hours=2))
        store_events(random_records(target["id"], late, rng))
        assert rollup_counts(target["id"], "rollup_hourly", "hour") != direct_counts(
            target["id"], "hour"
        )
        rollups.roll_up(uuid.UUID(target["id"]), hours=24, now=NOW + timedelta(minutes=1))
        _assert_rollups_equal_raw(target["id"])

        # Running it again changes nothing.
        rollups.roll_up(uuid.UUID(target["id"]), hours=24, now=NOW + timedelta(minutes=1))
        _assert_rollups_equal_raw(target["id"])

        groups = db.session.execute(
            select(
                ErrorGroup.event_name,
                ErrorGroup.schema_version,
                ErrorGroup.path,
                ErrorGroup.keyword,
                ErrorGroup.count,
            ).where(ErrorGroup.app_id == uuid.UUID(target["id"]))
        ).all()
        direct = direct_error_groups(target["id"])
        assert groups
        for *key, count in groups:
            assert count == sum(n for hour_key, n in direct.items() if list(hour_key[1:]) == key)


def test_new_violations_are_groups_first_seen_inside_the_window(app, make_tracked_app):
    target = make_tracked_app()
    app_id = uuid.UUID(target["id"])
    earlier = NOW - timedelta(hours=5)
    with app.app_context():
        store_at(
            target["id"],
            earlier,
            status="invalid",
            errors=invalid_errors(("/userId", "type")),
            schema_version=1,
        )
        first = rollups.roll_up(app_id, hours=1, now=earlier + timedelta(minutes=1))
        assert [g["path"] for g in first["new_violations"]] == ["/userId"]

        for path, keyword in (("/userId", "type"), ("/method", "enum"), ("/userId", "type")):
            store_at(
                target["id"],
                NOW - timedelta(minutes=10),
                status="invalid",
                errors=invalid_errors((path, keyword)),
                schema_version=1,
            )
        second = rollups.roll_up(app_id, hours=1, now=NOW)
        seen = {(g["path"], g["keyword"]): g["count"] for g in second["error_groups"]}
        assert seen == {("/userId", "type"): 2, ("/method", "enum"): 1}
        assert [(g["path"], g["keyword"]) for g in second["new_violations"]] == [
            ("/method", "enum")
        ]

        groups = rollup_reads.rollup_error_groups(
            app_id, NOW - timedelta(days=1), NOW + timedelta(1)
        )
        assert [(g["path"], g["count"], g["new"]) for g in groups] == [
            ("/userId", 3, True),
            ("/method", 1, True),
        ]
        today = rollup_reads.rollup_error_groups(app_id, NOW - timedelta(hours=1), NOW)
        assert [(g["path"], g["count"], g["new"]) for g in today] == [
            ("/userId", 2, False),
            ("/method", 1, True),
        ]


def test_series_lists_every_step_with_zeros(app, make_tracked_app):
    target = make_tracked_app()
    app_id = uuid.UUID(target["id"])
    with app.app_context():
        store_at(target["id"], NOW - timedelta(days=2, hours=1), status="valid")
        store_at(target["id"], NOW - timedelta(hours=1), status="unplanned")
        rollups.roll_up(app_id, hours=72, now=NOW)
        daily = rollup_reads.rollup_series(app_id, NOW - timedelta(days=3), NOW, step="day")
        assert [(d["at"].day, d["valid"], d["unplanned"], d["total"]) for d in daily] == [
            (19, 0, 0, 0),
            (20, 1, 0, 1),
            (21, 0, 0, 0),
            (22, 0, 1, 1),
        ]
        hourly = rollup_reads.rollup_series(app_id, NOW - timedelta(hours=3), NOW, step="hour")
        assert [h["at"].hour for h in hourly] == [23, 0, 1, 2]
        assert [h["total"] for h in hourly] == [0, 0, 1, 0]
        with pytest.raises(ValueError, match="step"):
            rollup_reads.rollup_series(app_id, NOW, NOW, step="week")


def test_two_concurrent_runs_give_the_result_of_one(app, make_tracked_app):
    target = make_tracked_app()
    rng = random.Random(7)
    with app.app_context():
        moments = _moments(rng, 800, NOW - timedelta(hours=3), NOW)
        store_events(random_records(target["id"], moments, rng))
    results = []

    def run() -> None:
        with app.app_context():
            results.append(rollups.roll_up(uuid.UUID(target["id"]), hours=4, now=NOW))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    with app.app_context():
        _assert_rollups_equal_raw(target["id"])


def test_apps_with_recent_traffic(app, make_tracked_app):
    quiet, busy = make_tracked_app(), make_tracked_app()
    with app.app_context():
        store_at(quiet["id"], datetime.now(UTC) - timedelta(hours=2))
        store_at(busy["id"], datetime.now(UTC))
        recent = rollups.apps_with_traffic_since(datetime.now(UTC) - timedelta(minutes=5))
        assert uuid.UUID(busy["id"]) in recent and uuid.UUID(quiet["id"]) not in recent


def test_groups_first_seen_within_a_day_are_alerted_older_ones_are_not(app, make_tracked_app):
    """A group whose events were stored late (workers down for hours) is still claimed for
    its alert; a group from a backfill of old data is not."""
    target = make_tracked_app()
    app_id = uuid.UUID(target["id"])
    now = datetime.now(UTC)
    with app.app_context():
        for moment, path in (
            (now - timedelta(hours=5), "/late"),
            (now - timedelta(days=3), "/old"),
        ):
            store_at(target["id"], moment, status="invalid", errors=invalid_errors((path, "type")))
        rollups.roll_up(app_id, hours=24 * 4, now=now)
        claimed, _deliveries, _mails = alerts.claim_new_groups(app_id, now=now)
        assert [group["path"] for group in claimed] == ["/late"]
        again, _deliveries, _mails = alerts.claim_new_groups(app_id, now=now)
        assert again == []
