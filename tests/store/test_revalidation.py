"""Re-validation after a schema fix: 10,000 events end with the verdicts, counters and
rollups a direct recomputation gives; a cancelled run on a real worker leaves each event
fully old or fully new, with counters equal to rows."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.background import jobs, revalidation
from app.extensions import db
from app.models import App, BackgroundJob, Event
from app.store import catalog
from app.store.events import store_events
from app.store.rollups import compute as rollups
from app.validation import compile_validator, validate
from celery_config import REVALIDATE_TASK
from tests.background import (
    counters_equal_rows,
    direct_counts,
    direct_error_groups,
    rollup_counts,
    rollup_error_group_hours,
)
from tests.support.factories import USER_LOGIN_SCHEMA, make_record
from tests.support.processes import wait_for

FIXED_SCHEMA = {
    **USER_LOGIN_SCHEMA,
    "properties": {**USER_LOGIN_SCHEMA["properties"], "userId": {"type": ["integer", "string"]}},
}
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(hours=30)


def _app_with_events(app, make_tracked_app, count: int, seed: int) -> tuple[str, list[dict]]:
    """An app whose user_login v1 rejects string ids and v2 accepts them; `count` events
    stored with their v1 verdicts (and a few of another name), rolled up."""
    target = make_tracked_app({"user_login": USER_LOGIN_SCHEMA})
    rng = random.Random(seed)
    v1 = compile_validator(USER_LOGIN_SCHEMA)
    records = []
    for _ in range(count):
        payload = rng.choice(
            [
                {"eventName": "user_login", "userId": rng.randint(1, 9)},
                {"eventName": "user_login", "userId": f"u{rng.randint(1, 9)}"},
                {"eventName": "user_login"},
            ]
        )
        errors = validate(v1, payload)
        moment = SINCE + timedelta(seconds=rng.uniform(0, 30 * 3600 - 60))
        records.append(
            make_record(
                target["id"],
                payload=payload,
                status="invalid" if errors else "valid",
                errors=errors,
                schema_version=1,
                received_at=moment.isoformat(),
            )
        )
    others = [make_record(target["id"], event_name="other", received_at=NOW.isoformat())]
    with app.app_context():
        store_events(records + others)
        catalog.set_schema(App.lookup(target["id"]), "user_login", FIXED_SCHEMA)
        rollups.roll_up(uuid.UUID(target["id"]), hours=32)
    return target["id"], records


def _assert_consistent(app_id: str) -> None:
    assert counters_equal_rows(app_id)
    assert rollup_counts(app_id, "rollup_hourly", "hour") == direct_counts(app_id, "hour")
    assert rollup_counts(app_id, "rollup_daily", "day") == direct_counts(app_id, "day")
    assert rollup_error_group_hours(app_id) == direct_error_groups(app_id)


def test_revalidating_10000_events_equals_a_direct_recomputation(app, make_tracked_app):
    app_id, records = _app_with_events(app, make_tracked_app, 10_000, seed=6)
    v2 = compile_validator(FIXED_SCHEMA)
    with app.app_context():
        job = revalidation.start_revalidation(
            uuid.UUID(app_id), "user_login", SINCE, NOW + timedelta(minutes=1), 2
        )
        assert job.total == 10_000
        outcome = revalidation.run_revalidation(job.id, chunk_rows=700)
        assert outcome["status"] == "done" and outcome["processed"] == 10_000
        stored = {
            str(e.id): e
            for e in db.session.scalars(select(Event).where(Event.app_id == uuid.UUID(app_id)))
        }
        turned_valid = 0
        for record in records:
            event = stored[record["id"]]
            expected = validate(v2, record["payload"])
            assert (event.status, event.errors, event.schema_version) == (
                "invalid" if expected else "valid",
                expected,
                2,
            )
            if record["status"] == "invalid" and not expected:
                turned_valid += 1
                before = revalidation.previous_verdict(event.id)
                assert before["previous_status"] == "invalid"
                assert before["previous_errors"] == record["errors"]
                assert before["previous_schema_version"] == 1
        assert turned_valid > 2000
        # Only status changes count: every event took version 2, but the job reports those
        # whose verdict flipped.
        assert outcome["changed"] == turned_valid
        assert db.session.get(BackgroundJob, job.id).changed == turned_valid
        assert {e.schema_version for e in stored.values() if e.event_name == "other"} == {None}
        _assert_consistent(app_id)


def test_a_cancelled_run_leaves_each_event_fully_old_or_fully_new(
    app, make_tracked_app, batch_worker
):
    app_id, records = _app_with_events(app, make_tracked_app, 10_000, seed=9)
    with app.app_context():
        job = revalidation.start_revalidation(
            uuid.UUID(app_id), "user_login", SINCE, NOW + timedelta(minutes=1), 2
        )
        job_id = job.id
    result = app.extensions["celery"].send_task(REVALIDATE_TASK, args=(str(job_id),))

    def started():
        with app.app_context():
            return db.session.get(BackgroundJob, job_id).processed > 0

    wait_for(started, timeout=60, interval=0.05)
    with app.app_context():
        jobs.request_cancel(db.session.get(BackgroundJob, job_id))
    app.extensions["celery"].control.revoke(result.id)

    def job_ended():
        with app.app_context():
            return db.session.get(BackgroundJob, job_id).status != "running"

    # The job's own state, not the task's: a revoked task's result can read as ready
    # before its current chunk commits and the job records the cancellation.
    wait_for(job_ended, timeout=60)

    with app.app_context():
        finished = db.session.get(BackgroundJob, job_id)
        assert finished.status == "cancelled"
        assert 0 < finished.processed < 10_000
        v2 = compile_validator(FIXED_SCHEMA)
        events = {
            str(e.id): e
            for e in db.session.scalars(select(Event).where(Event.app_id == uuid.UUID(app_id)))
        }
        new = 0
        for record in records:
            event = events[record["id"]]
            if event.schema_version == 2:
                new += 1
                expected = validate(v2, record["payload"])
                assert (event.status, event.errors) == (
                    "invalid" if expected else "valid",
                    expected,
                )
            else:
                assert (event.status, event.errors, event.schema_version) == (
                    record["status"],
                    record["errors"],
                    1,
                )
        assert new == finished.processed
        _assert_consistent(app_id)


def test_revalidating_against_the_events_own_version_gives_ingests_verdict(
    app, client, make_tracked_app, default_worker
):
    """An event invalid for its envelope (a bad timestamp) stays invalid, with the same
    errors, when re-validated against the version it was checked with; the counters stay."""
    target = make_tracked_app({"user_login": USER_LOGIN_SCHEMA})
    payloads = [
        {"eventName": "user_login", "userId": 7, "timestamp": "yesterday-ish"},
        {"eventName": "user_login", "userId": 8, "eventId": ""},
        {"eventName": "user_login", "userId": "x", "timestamp": True, "method": "fax"},
        {"eventName": "user_login", "userId": 9},
    ]

    def post(payload: dict) -> dict:
        response = client.post(
            f"/api/logs/{target['id']}", json=payload, headers={"X-API-Key": target["key"]}
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        return response.get_json()

    answers = [post(payload) for payload in payloads]
    assert [a["status"] for a in answers] == ["invalid", "invalid", "invalid", "valid"]
    app_id = uuid.UUID(target["id"])

    def stored():
        with app.app_context():
            rows = db.session.scalars(select(Event).where(Event.app_id == app_id)).all()
            return len(rows) == len(payloads) and rows

    wait_for(stored, timeout=60)
    with app.app_context():
        before = {str(e.id): (e.status, e.errors, e.schema_version) for e in stored()}
        job = revalidation.start_revalidation(
            app_id, "user_login", NOW - timedelta(hours=1), datetime.now(UTC), 1
        )
        outcome = revalidation.run_revalidation(job.id, chunk_rows=100)
        assert (outcome["processed"], outcome["changed"]) == (4, 0)
        db.session.expire_all()
        after = {str(e.id): (e.status, e.errors, e.schema_version) for e in stored()}
        assert after == before
        for answer in answers:
            assert after[answer["event_id"]][:2] == (answer["status"], answer["errors"])
        assert counters_equal_rows(target["id"])
        counts = db.session.execute(
            select(Event.status, func.count()).where(Event.app_id == app_id).group_by(Event.status)
        ).all()
        assert dict(counts) == {"invalid": 3, "valid": 1}
    # And posting the same payload again still gives the verdict the stored event keeps.
    again = post(payloads[0])
    assert (again["status"], again["errors"]) == (answers[0]["status"], answers[0]["errors"])


@pytest.mark.parametrize(
    ("version", "since", "until", "message"),
    [
        (9, SINCE, NOW, "no schema version 9"),
        (1, NOW, SINCE, "before its end"),
    ],
)
def test_a_revalidation_that_cannot_run_is_refused(
    app, make_tracked_app, version, since, until, message
):
    target = make_tracked_app({"user_login": USER_LOGIN_SCHEMA})
    with app.app_context(), pytest.raises(jobs.JobError, match=message):
        revalidation.start_revalidation(
            uuid.UUID(target["id"]), "user_login", since, until, version
        )
