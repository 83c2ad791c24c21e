"""A worker whose code is on another migration revision than the database stores and
acknowledges nothing, says so in its log and /health, and resumes once they match:
a real `default` worker against the test database with its `alembic_version` changed."""

from __future__ import annotations

import redis
from sqlalchemy import text

from app.extensions import db
from app.store.revision import code_revision, database_revision
from tests.support.environment import TEST_REDIS_URL
from tests.support.factories import USER_LOGIN_SCHEMA, app_with
from tests.support.processes import WorkerPool, wait_for

BROKER_URL = f"{TEST_REDIS_URL}/15"  # results share the db: their keys never clash with queues
EVENTS = 5


def _set_revision(flask_app, revision: str) -> None:
    with flask_app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        db.session.commit()
        database_revision(fresh=True)  # this process's cached reading too


def _stored(flask_app, app_id: str) -> list[str]:
    with flask_app.app_context():
        rows = db.session.execute(
            text("SELECT client_event_id FROM events WHERE app_id = CAST(:app AS uuid)"),
            {"app": app_id},
        ).scalars()
        found = list(rows)
        db.session.rollback()
    return found


def test_a_worker_on_another_revision_stores_nothing_until_the_database_matches(
    app, make_tracked_app
):
    head = code_revision()
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()
    tracked = make_tracked_app({"user_login": USER_LOGIN_SCHEMA})
    settings = {"CELERY_BROKER_URL": BROKER_URL, "CELERY_RESULT_BACKEND": BROKER_URL}
    worker = WorkerPool("default", concurrency=1, env=settings).start()
    try:
        _set_revision(app, "0005")  # as if the code were newer than the database
        celery = {"broker_url": BROKER_URL, "result_backend": BROKER_URL}
        with app_with(app, {"CELERY": celery}) as web:
            client = web.test_client()
            for index in range(EVENTS):
                answer = client.post(
                    f"/api/logs/{tracked['id']}",
                    json={"eventName": "user_login", "userId": index, "eventId": f"rev-{index}"},
                    headers={"X-API-Key": tracked["key"]},
                )
                assert answer.status_code == 202, answer.get_data(as_text=True)
            expected = f"expects database migration revision {head}, the database is at 0005"
            wait_for(lambda: expected in worker.output(), timeout=30)
            # Handed back at least once: wait a second full pause of the worker.
            wait_for(lambda: worker.output().count("0005") >= 2, timeout=30)
            assert _stored(app, tracked["id"]) == []
            assert broker.llen("dead_letter") == 0  # nothing parked...
            waiting = broker.llen("default") + broker.hlen("unacked")
            assert waiting >= 1  # ...and nothing acknowledged away
            body = client.get("/health").get_json()
            assert body["status"] == "failing"
            assert body["schema"] == {
                "ok": False,
                "code_revision": head,
                "database_revision": "0005",
            }

            _set_revision(app, head)
            stored = wait_for(lambda: len(_stored(app, tracked["id"])) >= EVENTS and True, 60)
            assert stored
            assert sorted(_stored(app, tracked["id"])) == [f"rev-{i}" for i in range(EVENTS)]
            assert broker.llen("dead_letter") == 0
            body = client.get("/health").get_json()
            assert body["schema"] == {
                "ok": True,
                "code_revision": head,
                "database_revision": head,
            }
    finally:
        _set_revision(app, head)
        worker.stop()
        broker.flushdb()
