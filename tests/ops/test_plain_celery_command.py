"""A worker started the standard Celery way, `celery -A run.celery_app worker -Q default
-c 1` with none of the project's options, stores events in every profile (in the metered
one it used to wait in its 300 s receive and stored none of 5 events answered 202): in
that profile mingle, gossip and worker-heartbeat events are off however it starts."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis
from sqlalchemy import func, select

from app.extensions import db
from app.models import Event
from celery_config import STORE_EVENT_TASK
from tests.support.environment import PROJECT_ROOT, TEST_REDIS_URL
from tests.support.factories import app_with, make_record
from tests.support.processes import WorkerPool, wait_for

BROKER_URL = f"{TEST_REDIS_URL}/15"  # a broker of this test's own
EVENTS = 5


class PlainCeleryWorker(WorkerPool):
    """`celery -A run.celery_app worker -Q QUEUE -c 1`, nothing more (a node name, and
    INFO logs, where the test reads "ready.")."""

    def start(self, wait: bool = True) -> PlainCeleryWorker:
        command = [sys.executable, "-m", "celery", "-A", "run.celery_app", "worker"]
        self.proc = subprocess.Popen(
            [*command, "-Q", self.queue, "-c", "1", "-n", self.hostname, "-l", "INFO"],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.log_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            wait_for(self.ready, timeout=60)
        return self


@pytest.mark.parametrize("profile", ["metered", "standard"])
def test_a_worker_started_with_celerys_own_command_stores_events(app, make_tracked_app, profile):
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()
    tracked = make_tracked_app()
    env = {
        "LVD_PROFILE": profile,
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_RESULT_BACKEND": BROKER_URL,
    }
    worker = PlainCeleryWorker("default", env=env).start()
    # An idle worker, as in production: events come a while after it started.
    time.sleep(15)
    try:
        celery = {"broker_url": BROKER_URL, "result_backend": BROKER_URL}
        with app_with(app, {"CELERY": celery}) as web:
            for index in range(EVENTS):
                record = make_record(
                    tracked["id"],
                    id=str(uuid.uuid4()),
                    event_name="signup",
                    payload={"eventName": "signup", "n": index},
                    received_at=datetime.now(UTC).isoformat(),
                )
                web.extensions["celery"].send_task(STORE_EVENT_TASK, args=(record,))

        def stored() -> int:
            with app.app_context():
                count = db.session.scalar(
                    select(func.count()).where(Event.app_id == uuid.UUID(tracked["id"]))
                )
                db.session.rollback()
            return count == EVENTS

        wait_for(stored, timeout=60)
        if profile == "metered":
            # Mingle's start-up exchange is what left a metered worker's receive waiting
            # (reproduced by hand: an event published 15 s after start was not taken).
            assert "mingle: searching for neighbors" not in worker.output()
    finally:
        worker.stop()
        broker.flushdb()
