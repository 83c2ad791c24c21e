"""The test API's reads on SQLite (standalone): found by id and client id, payload fields
compared as JSON values, test runs kept apart and removed after a day."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.config import engine_options
from app.extensions import db
from app.store import catalog
from app.store.events import store_events
from app.store.reads.search import find_stored, parse_search, search
from tests.support.environment import PROJECT_ROOT
from tests.support.factories import make_record, uuid7_at


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory):
    from flask_migrate import downgrade, upgrade

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
        migrations = str(PROJECT_ROOT / "migrations")
        upgrade(directory=migrations)
        downgrade(directory=migrations, revision="0009")  # 0010 undoes cleanly on SQLite
        upgrade(directory=migrations)
    return flask_app


def test_reads_on_sqlite(sqlite_app):
    rng = random.Random(7)
    now = datetime.now(UTC)
    with sqlite_app.app_context():
        created, _key = catalog.create_app(f"sqlite-{uuid.uuid4().hex[:8]}")
        app_id = created.id
        payloads = [
            {"type": "track", "properties": {"plan": "pro", "seats": 3, "beta": True}},
            {"type": "track", "properties": {"plan": "free", "seats": 1, "beta": False}},
        ]
        records = [
            make_record(
                str(app_id),
                id=uuid7_at(now - timedelta(minutes=10 - n), rng),
                client_event_id=f"c-{n}",
                payload=payload,
                received_at=(now - timedelta(minutes=10 - n)).isoformat(),
                test_run=f"run-{n}",
            )
            for n, payload in enumerate(payloads)
        ]
        assert store_events(records) == 2
        first, second = records[0]["id"], records[1]["id"]
        assert str(find_stored(app_id, first).id) == first
        assert str(find_stored(app_id, "c-1").id) == second
        assert find_stored(app_id, "c-1", test_run="run-0") is None

        def ids(body: dict) -> list[str]:
            return [str(e.id) for e in search(app_id, parse_search(body))[0]]

        assert ids({"field": "properties.plan", "equals": "pro"}) == [first]
        assert ids({"field": "properties.seats", "equals": 1}) == [second]
        assert ids({"field": "properties.beta", "equals": True}) == [first]
        assert ids({"field": "properties.seats", "equals": "3"}) == []
        assert ids({"type": "track"}) == [second, first]
        assert ids({"test_run": "run-1"}) == [second]

        from app.background import retention

        assert retention.expire_test_runs(app_id, 100, now + timedelta(hours=24)) == 2
        assert ids({}) == []
