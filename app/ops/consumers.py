"""Queues that hold messages and have had no consumer for a minute: a pool nobody started.

Worker heartbeats move `queue_consumers.last_seen` of the queues each worker consumes
(app/worker/heartbeat.py); a queue of the topology that no worker has consumed yet gets
a row when the first worker starts, so its minute counts from then. /health and the
metrics name such a queue and the command that starts its pool: a deployment that runs
three pools of the four never sends one-time codes (they wait on `emails_priority`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.extensions import db
from app.models import QueueConsumer
from celery_config import WORKER_POOLS

# Longer than a few missed heartbeats (every 10 s) and a worker's restart, so a pool
# restarting is not reported; short enough that a one-time code is not lost for long.
UNCONSUMED_SECONDS = 60


def consumers_last_seen() -> dict[str, datetime]:
    """queue -> when a worker last consumed it (or when watching started), from the database."""
    rows = db.session.execute(select(QueueConsumer.queue, QueueConsumer.last_seen))
    return {queue: seen if seen.tzinfo else seen.replace(tzinfo=UTC) for queue, seen in rows}


def start_command(pool: str) -> str:
    """The documented command that starts a pool."""
    return f"bash start_celery_worker.sh {pool}"


def unconsumed_queues(
    depths: dict[str, int | None], last_seen: dict[str, datetime], now: datetime | None = None
) -> list[dict]:
    """The queues holding messages whose consumer was last seen UNCONSUMED_SECONDS ago or
    more (or never): [{"queue", "messages", "seconds_without_consumer", "command"}]."""
    now = now or datetime.now(UTC)
    found = []
    for pool, (queue, _concurrency, _env) in WORKER_POOLS.items():
        waiting = depths.get(queue)
        if not waiting:
            continue
        seen = last_seen.get(queue)
        without = None if seen is None else (now - seen).total_seconds()
        if without is not None and without < UNCONSUMED_SECONDS:
            continue
        found.append(
            {
                "queue": queue,
                "messages": waiting,
                "seconds_without_consumer": None if without is None else round(without),
                "command": start_command(pool),
            }
        )
    return found


def describe(unconsumed: dict) -> str:
    """One line for a log or a page: which queue, how long, what to run."""
    return (
        f"queue {unconsumed['queue']} holds {unconsumed['messages']} message(s) and has had "
        f"no consumer for {UNCONSUMED_SECONDS} s or more: start its pool with "
        f"`{unconsumed['command']}`"
    )
