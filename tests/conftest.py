"""Shared fixtures: a fresh PostgreSQL database, Redis databases, the app and real workers.

The environment is set before the app is imported because `celery_config` reads it once.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from tests.support.databases import recreate_database
from tests.support.environment import (
    BROKER_DB,
    LIMITS_DB,
    RESULTS_DB,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
)
from tests.support.processes import WorkerPool, WorkerPools
from tests.support.servers import PrivateRedis

os.environ.update(
    DATABASE_URL=TEST_DATABASE_URL,
    CELERY_BROKER_URL=f"{TEST_REDIS_URL}/{BROKER_DB}",
    CELERY_RESULT_BACKEND=f"{TEST_REDIS_URL}/{RESULTS_DB}",
    REDIS_URL=f"{TEST_REDIS_URL}/{LIMITS_DB}",
    INSTANCE_PATH=tempfile.mkdtemp(prefix="lvd-test-instance-"),
    STORAGE_RETRY_BACKOFF="0.2",
    REGISTRY_REFRESH_SECONDS="0",
    LOG_LEVEL="WARNING",
    # Background work: webhook receivers in tests listen on loopback; retries come quickly.
    WEBHOOK_ALLOW_PRIVATE="1",
    WEBHOOK_RETRY_BACKOFF="0.3",
    JOB_CHUNK_ROWS="200",
    # Operators' detail (/metrics, /health) for the loopback test client and servers.
    METRICS_ALLOW_LOOPBACK="1",
)

from tests.accounts import PASSWORD, SmtpSink, Web  # noqa: E402

# Modules that take a minute or more (measured with --durations), slowest first. With
# `-n 4 --dist loadfile --no-loadscope-reorder` workers are handed modules in collection
# order, so these go first: none of them then starts last and runs on while the other
# workers have nothing left. (xdist's own reorder puts modules with the most tests first.)
SLOW_MODULES = (
    "tests/ops/test_metered.py",
    "tests/store/test_revalidation.py",
    "tests/test_start_script.py",
    "tests/ops/test_start_options.py",
    "tests/store/test_dashboard_indexes.py",
    "tests/faults/test_worker_crash.py",
    "tests/worker/test_aggregation_tasks.py",
    "tests/faults/test_worker_killed_repeatedly.py",
    "tests/ops/test_metrics.py",
    "tests/test_load_test.py",
    "tests/worker/test_alerts.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Put the slow modules first (a stable sort: every module's tests stay in order)."""
    rank = {name: place for place, name in enumerate(SLOW_MODULES)}

    def place(item) -> int:
        return rank.get(item.path.relative_to(config.rootpath).as_posix(), len(rank))

    items.sort(key=place)


@pytest.fixture(scope="session")
def app():
    """The app on a freshly migrated test database and emptied Redis databases."""
    recreate_database(TEST_DATABASE_URL)
    for db_number in (BROKER_DB, RESULTS_DB, LIMITS_DB):
        redis.Redis.from_url(f"{TEST_REDIS_URL}/{db_number}").flushdb()

    from flask_migrate import upgrade

    from app import create_app
    from app.config import PROJECT_ROOT

    flask_app = create_app({"TESTING": True})
    with flask_app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_tracked_app(app):
    """Create an app (unique name) with optional schemas; return {"id", "key", "name"}."""

    from app.models import App
    from app.store import catalog

    def make(schemas: dict | None = None, rate_limit: str | None = None) -> dict:
        with app.app_context():
            created, key = catalog.create_app(f"test-{uuid.uuid4().hex[:10]}", rate_limit)
            for event_name, schema in (schemas or {}).items():
                catalog.set_schema(App.lookup(str(created.id)), event_name, schema)
            return {"id": str(created.id), "key": key, "name": created.name}

    return make


@pytest.fixture(scope="session")
def default_worker(app):
    """A real `default` pool (2 processes) consuming the test broker for the whole session."""
    pool = WorkerPool("default", concurrency=2)
    pool.start()
    yield pool
    pool.stop()


@pytest.fixture(scope="module")
def batch_worker(app):
    """A real `batch_processing` pool (1 process, as in production) for one test module:
    other modules rely on nothing consuming that queue."""
    pool = WorkerPool("batch_processing", concurrency=1)
    pool.start()
    yield pool
    pool.stop()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of the test's own on a spare port: it may stop, fill or cut it."""
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smtp_sink():
    """A real SMTP server on a loopback port, collecting every mail the workers send."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def emails_worker(app, smtp_sink):
    """Real `emails` and `emails_priority` pools delivering to the SMTP sink, retrying after
    1 s, 2 s, 4 s (account mails travel on `emails_priority`, bulk mail on `emails`)."""
    env = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_sink.port), "MAIL_RETRY_BACKOFF": "1"}
    pools = WorkerPools(
        WorkerPool("emails", concurrency=2, env=env),
        WorkerPool("emails_priority", concurrency=1, env=env),
    ).start()
    yield pools
    pools.stop()


@pytest.fixture
def web(app, smtp_sink, emails_worker, monkeypatch):
    """A browser-like client from its own IP; the web app believes mail goes over SMTP."""
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp_sink.port)
    return Web(app.test_client())


@pytest.fixture
def make_user(app):
    """Create a developer directly in the database; return their email."""
    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.models import User
    from tests.accounts import unique_email

    def make(address: str | None = None, password: str = PASSWORD, confirmed: bool = True) -> str:
        address = address or unique_email()
        with app.app_context():
            db.session.add(
                User(
                    email=address,
                    password_hash=hash_password(password),
                    confirmed_at=datetime.now(UTC) if confirmed else None,
                    session_epoch=0,
                )
            )
            db.session.commit()
        return address

    return make
