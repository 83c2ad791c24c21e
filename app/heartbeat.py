"""A worker bootstep that records, every few seconds, which queues this worker consumes."""

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
            lambda: db.session.execute(
                delete(WorkerHeartbeat).where(WorkerHeartbeat.hostname == worker.hostname)
            )
        )

    def beat(self, worker) -> None:
        queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        self._write(
            lambda: db.session.merge(
                WorkerHeartbeat(
                    hostname=worker.hostname,
                    queues=queues,
                    pid=os.getpid(),
                    last_seen=datetime.now(UTC),
                )
            )
        )

    @staticmethod
    def _write(change) -> None:
        try:
            change()
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.warning("could not record worker heartbeat", exc_info=True)
        finally:
            db.session.remove()
