"""Error groups on SQLite (standalone), where the grouping runs in Python: events count
once per group, newest examples first, the range and the sample bound are kept, and
rolled-up hours add to the raw ones as on PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import uuid_utils

from app.config import engine_options
from app.extensions import db
from app.store import catalog
from app.store.events import store_events
from app.store.ranges import RANGES
from app.store.reads import error_groups, range_errors
from app.store.rollups import compute as rollups
from app.store.rollups import marks as rollup_marks
from tests.support.environment import PROJECT_ROOT
from tests.support.factories import make_record, uuid7_at

TYPE = {"path": "/userId", "keyword": "type", "message": "not an integer"}
REQUIRED = {"path": "", "keyword": "required", "message": "userId is required"}


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory):
    from flask_migrate import upgrade

    from app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('standalone') / 'lvd.sqlite3'}"
    flask_app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        }
    )
    with flask_app.app_context():
        assert db.engine.dialect.name == "sqlite"
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
    return flask_app


def _store(app_id: str, specs: list[tuple[str, list[dict]]], moment: datetime) -> list[str]:
    records = [
        make_record(
            app_id,
            id=str(uuid_utils.uuid7()),
            event_name=name,
            status="invalid" if errors else "valid",
            errors=errors,
            schema_version=1,
            received_at=moment.isoformat(),
        )
        for name, errors in specs
    ]
    assert store_events(records) == len(records)
    return [record["id"] for record in records]


def test_groups_on_sqlite_count_events_once_with_newest_examples(sqlite_app):
    with sqlite_app.app_context():
        created, _key = catalog.create_app(f"standalone-{uuid.uuid4().hex[:8]}")
        app_id = str(created.id)
        since = datetime.now(UTC) - timedelta(minutes=1)
        ids = _store(
            app_id,
            [
                ("user_login", [TYPE, TYPE]),  # the same error twice: one event
                ("user_login", [TYPE, REQUIRED]),
                ("user_login", []),
                ("checkout", [TYPE]),
                ("user_login", [TYPE]),
            ],
            datetime.now(UTC),
        )
        found = error_groups.top_errors(created.id, since)
        groups = {(g["event_name"], g["path"], g["keyword"]): g for g in found["groups"]}
        assert {key: g["count"] for key, g in groups.items()} == {
            ("user_login", "/userId", "type"): 3,
            ("user_login", "", "required"): 1,
            ("checkout", "/userId", "type"): 1,
        }
        assert found["events_read"] == 4 and not found["truncated"]
        assert [g["count"] for g in found["groups"]] == [3, 1, 1]  # biggest first
        newest_first = [ids[4], ids[1], ids[0]]
        assert groups[("user_login", "/userId", "type")]["example_ids"] == newest_first
        assert groups[("user_login", "", "required")]["message"] == "userId is required"

        sampled = error_groups.top_errors(created.id, since, sample=2)
        assert sampled["events_read"] == 2 and sampled["truncated"]
        assert {(g["event_name"], g["count"]) for g in sampled["groups"]} == {
            ("user_login", 1),
            ("checkout", 1),
        }
        later = error_groups.top_errors(created.id, datetime.now(UTC) + timedelta(minutes=1))
        assert later["groups"] == [] and later["events_read"] == 0


def test_a_days_groups_on_sqlite_add_rolled_up_hours_to_recent_events(sqlite_app):
    now = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)  # the day crosses a midnight
    rng = random.Random(7)
    with sqlite_app.app_context():
        created, _key = catalog.create_app(f"standalone-{uuid.uuid4().hex[:8]}")
        records = []
        for _ in range(300):
            moment = now - timedelta(seconds=rng.uniform(0, 30 * 3600))
            errors = rng.sample([TYPE, REQUIRED, {**TYPE, "path": "/method"}], rng.randint(0, 2))
            records.append(
                make_record(
                    str(created.id),
                    id=uuid7_at(moment, rng),
                    event_name=rng.choice(("user_login", "checkout")),
                    status="invalid" if errors else "valid",
                    errors=errors,
                    received_at=moment.isoformat(),
                )
            )
        assert store_events(records) == 300
        since = rollups.floor_hour(now - timedelta(hours=24))
        direct = Counter(
            (r["event_name"], e["path"], e["keyword"])
            for r in records
            if datetime.fromisoformat(r["received_at"]) >= since
            for e in r["errors"]
        )
        backend = sqlite_app.extensions["celery"].backend
        rollups.roll_up(created.id, hours=31, now=now)
        rollup_marks.record_run(backend, created.id, now - timedelta(hours=31), now)
        assert rollup_marks.complete_hours(created.id)[1] == rollups.floor_hour(now)
        found = range_errors.range_errors(created.id, RANGES["24h"], now=now, limit=50)
        counted = {(g["event_name"], g["path"], g["keyword"]): g["count"] for g in found["groups"]}
        assert counted == dict(direct)
        assert found["since"] == since.isoformat()
        assert all(g["message"] for g in found["groups"])
