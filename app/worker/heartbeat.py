"""A worker bootstep that records, every few seconds, which queues this worker consumes.

The records live in the database (`worker_heartbeats`), where `/health` and the pages
read them, so the web tier needs no broker round trip to list live workers.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

from celery import bootsteps
from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import WorkerHeartbeat

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10


class HeartbeatStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:
        self.tref = worker.timer.call_repeatedly(HEARTBEAT_SECONDS, self.beat, (worker,))
        self.beat(worker)

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
        self._write(
            worker,
            lambda: db.session.execute(
                delete(WorkerHeartbeat).where(WorkerHeartbeat.hostname == worker.hostname)
            ),
        )

    def beat(self, worker) -> None:
        """Record that this worker is alive and which queues it consumes."""
        queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        self._write(
            worker,
            lambda: db.session.merge(
                WorkerHeartbeat(
                    hostname=worker.hostname,
                    queues=queues,
                    pid=os.getpid(),
                    last_seen=datetime.now(UTC),
                )
            ),
        )

    @staticmethod
    def _write(worker, change) -> None:
        with worker.app.flask_app.app_context():
            try:
                change()
                db.session.commit()
            except SQLAlchemyError:
                db.session.rollback()
                log.warning("could not record worker heartbeat", exc_info=True)
            finally:
                db.session.remove()
