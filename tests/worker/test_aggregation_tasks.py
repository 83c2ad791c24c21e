"""The periodic tasks: scheduled, routed to batch_processing, time-limited, and doing their
work on a real batch_processing worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

import celery_config
from app.background import retention
from app.extensions import db
from app.models import Event, HourlyRollup
from celery_config import MAINTENANCE_TASK, ROLLUP_RECENT_TASK, SUMMARIZE_ALL_TASK
from tests.background import run_on_worker, store_at
from tests.support.processes import wait_for


def test_every_periodic_task_is_routed_time_limited_and_scheduled():
    scheduled = {entry["task"] for entry in celery_config.beat_schedule.values()}
    assert scheduled == {
        ROLLUP_RECENT_TASK,
        SUMMARIZE_ALL_TASK,
        celery_config.DIGEST_TASK,
        MAINTENANCE_TASK,
    }
    for name in scheduled:
        assert celery_config.task_routes[name] == {"queue": "batch_processing"}
        assert celery_config.task_annotations[name]["time_limit"] > 0
    every_minute = celery_config.beat_schedule["rollup-recent-apps-every-minute"]
    assert every_minute["schedule"] <= 60 and every_minute["options"]["expires"] < 60
    assert celery_config.task_routes[celery_config.WEBHOOK_TASK] == {"queue": "emails"}


def test_recent_apps_are_rolled_up_by_the_minute_task(app, make_tracked_app, batch_worker):
    target = make_tracked_app()
    with app.app_context():
        store_at(target["id"], datetime.now(UTC))
    assert run_on_worker(app, ROLLUP_RECENT_TASK) >= 1

    def rolled_up():
        with app.app_context():
            return db.session.scalar(
                select(func.sum(HourlyRollup.count)).where(
                    HourlyRollup.app_id == uuid.UUID(target["id"])
                )
            )

    assert wait_for(rolled_up, timeout=60) == 1


def test_maintenance_deletes_expired_events_on_the_worker(app, make_tracked_app, batch_worker):
    target = make_tracked_app()
    with app.app_context():
        retention.set_retention(uuid.UUID(target["id"]), 1)
        store_at(target["id"], datetime.now(UTC) - timedelta(days=3))
        store_at(target["id"], datetime.now(UTC))
    outcome = run_on_worker(app, MAINTENANCE_TASK)
    assert outcome["deleted"][target["id"]] == 1
    with app.app_context():
        left = db.session.scalar(
            select(func.count()).where(Event.app_id == uuid.UUID(target["id"]))
        )
        assert left == 1


def test_maintenance_keeps_partitions_ahead_and_clears_old_strays_on_the_worker(
    app, make_tracked_app, batch_worker
):
    from app.store import partitions

    target = make_tracked_app()
    with app.app_context():
        # A uuid4 id belongs to no day partition: the default keeps it, retention removes it.
        store_at(target["id"], datetime.now(UTC) - timedelta(days=40))
        store_at(target["id"], datetime.now(UTC))
    first = run_on_worker(app, MAINTENANCE_TASK)
    second = run_on_worker(app, MAINTENANCE_TASK)
    assert first["deleted"][target["id"]] == 1
    assert second["created_partitions"] == [] and second["dropped_partitions"] == []
    assert target["id"] not in second["deleted"]
    with app.app_context():
        today = datetime.now(UTC).date()
        ahead = [today + timedelta(days=n) for n in range(partitions.DAYS_AHEAD + 1)]
        assert set(ahead) <= set(partitions.day_partitions())
