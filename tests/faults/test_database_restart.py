"""The database (a test-owned PostgreSQL cluster) crashes and restarts mid-drain.

While a real `default` pool stores a backlog, the cluster is stopped at once and
started again a few seconds later. Stores in flight fail and are retried, or parked
when their retries run out during the outage; `flask events replay-failed` stores
those. Every accepted event is stored exactly once, and the counters equal the rows.
"""

from __future__ import annotations

import time

import pytest
from flask_migrate import upgrade

from app.config import PROJECT_ROOT, normalize_database_url
from app.models import App
from app.store import catalog
from tests.faults.scenario import (
    assert_stored_exactly_once,
    broker_is_empty,
    post_events,
    replay_failed,
    row_count,
)
from tests.support.factories import USER_LOGIN_SCHEMA, app_with
from tests.support.processes import WorkerPool, wait_for
from tests.support.servers import PrivatePostgres


@pytest.fixture
def private_postgres():
    server = PrivatePostgres().start()
    yield server
    server.stop()


@pytest.fixture
def pg_app(app, private_postgres, fault_broker):
    """An app on the private cluster (migrated) and the fault broker."""
    config = {
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(private_postgres.url),
        "CELERY": {
            "broker_url": fault_broker.broker_url,
            "result_backend": fault_broker.results_url,
        },
    }
    with app_with(app, config) as built:
        with built.app_context():
            upgrade(directory=str(PROJECT_ROOT / "migrations"))
        yield built


def test_database_restart_mid_drain_loses_nothing(pg_app, private_postgres, fault_broker):
    with pg_app.app_context():
        created, key = catalog.create_app("restart", None)
        catalog.set_schema(App.lookup(str(created.id)), "user_login", USER_LOGIN_SCHEMA)
        tracked = {"id": str(created.id), "key": key}
    accepted = post_events(pg_app.test_client(), tracked, "pgr", 40, 50, 400)
    total = len(accepted.statuses)
    broker = fault_broker.client
    worker = WorkerPool(
        "default",
        concurrency=2,
        env={
            **fault_broker.worker_env,
            "DATABASE_URL": private_postgres.url,
            "STORAGE_RETRY_BACKOFF": "0.5",
        },
    )
    try:
        worker.start()
        wait_for(lambda: row_count(pg_app, tracked["id"]) > 0, timeout=60, interval=0.05)
        private_postgres.crash()
        time.sleep(3)
        private_postgres.start()
        wait_for(lambda: worker.proc.poll() is not None or broker_is_empty(broker), timeout=120)
        assert worker.proc.poll() is None, worker.output()[-3000:]
    finally:
        worker.stop()
    with pg_app.app_context():
        from app.extensions import db

        db.engine.dispose()  # its connections died with the server
    replay_failed(pg_app)
    assert row_count(pg_app, tracked["id"]) == total
    assert_stored_exactly_once(pg_app, tracked["id"], accepted)
