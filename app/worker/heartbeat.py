"""A worker bootstep that records, every few seconds, which queues this worker consumes.

The records live in the database (`worker_heartbeats`), where `/health` and the pages
read them, so the web tier needs no broker round trip to list live workers. Each beat
(and the stop) also moves `queue_consumers.last_seen` of the queues it consumes, and
starts the clock of the topology's other queues, so /health can tell a queue that has
had no consumer for a minute (a pool nobody started) from a worker that is restarting.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

from celery import bootsteps
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import QueueConsumer, WorkerHeartbeat
from celery_config import WORKER_POOLS

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

        def leave() -> None:
            record_consumed(_consumed(worker), datetime.now(UTC))  # the clock starts now
            db.session.execute(
                delete(WorkerHeartbeat).where(WorkerHeartbeat.hostname == worker.hostname)
            )

        self._write(worker, leave)

    def beat(self, worker) -> None:
        """Record that this worker is alive and which queues it consumes."""
        queues = _consumed(worker)

        def alive() -> None:
            now = datetime.now(UTC)
            db.session.merge(
                WorkerHeartbeat(
                    hostname=worker.hostname, queues=queues, pid=os.getpid(), last_seen=now
                )
            )
            record_consumed(queues, now)

        self._write(worker, alive)

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


def _consumed(worker) -> list[str]:
    return sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)


def record_consumed(queues: list[str], now: datetime) -> None:
    """Move the consumed queues' `last_seen` to now; add the topology's other queues
    with now if they have no row yet (their clock starts with the first worker)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Sorted, so that workers beating at once lock the rows in one order (no deadlock).
    consumed = [{"queue": queue, "last_seen": now} for queue in sorted(queues)]
    topology = {queue for queue, _concurrency, _env in WORKER_POOLS.values()}
    others = [{"queue": queue, "last_seen": now} for queue in sorted(topology - set(queues))]
    if consumed:
        statement = insert(QueueConsumer)
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["queue"], set_={"last_seen": statement.excluded.last_seen}
            ),
            consumed,
        )
    if others:
        db.session.execute(insert(QueueConsumer).on_conflict_do_nothing(), others)
