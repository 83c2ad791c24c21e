"""Prometheus metrics of the workers, from Celery's task signals and the store's signal.

Pool children count; the worker's main process serves the sum. With prefork, every child
writes its counters to memory-mapped files in PROMETHEUS_MULTIPROC_DIR (one folder per
pool: `start_celery_worker.sh` sets it), and, when WORKER_METRICS_PORT is set, the main
process serves them on WORKER_METRICS_PORT + the pool's index in
`celery_config.WORKER_POOLS` (so the pools of one machine never collide), bound to
WORKER_METRICS_ADDR (default 127.0.0.1).

Events stored are counted where they are written (`store.events.events_written`), so the
storage tasks' grouped path, which runs no task signals, is counted too. Queue depths and
ages are broker figures: the web tier's /metrics reads them once for everyone.
"""

from __future__ import annotations

import logging
import os
import time

from celery.signals import (
    task_postrun,
    task_prerun,
    task_retry,
    worker_process_shutdown,
    worker_ready,
)
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    multiprocess,
    start_http_server,
)

import celery_config
from app.store.events import events_written

log = logging.getLogger(__name__)
disable_created_metrics()

TASK_SECONDS = Histogram(
    "lvd_task_duration_seconds",
    "Run time of a task (Celery's own path), by task name",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TASKS = Counter(
    "lvd_tasks_total",
    "Tasks finished, by task name and outcome (success, failure, retry, ...)",
    ["task", "outcome"],
)
TASK_RETRIES = Counter("lvd_task_retries_total", "Retries scheduled, by task name", ["task"])
EVENTS_STORED = Counter("lvd_events_stored_total", "Events written to the database by workers")
DEAD_LETTERED = Counter(
    "lvd_events_dead_lettered_total", "Events parked on the dead-letter queue after retries"
)
MAILS = Counter("lvd_mails_total", "Mails handled, by outcome (sent, failed)", ["outcome"])

_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str, **_kwargs) -> None:
    _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_finished(task_id: str, task, retval=None, state: str | None = None, **_kwargs) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        TASK_SECONDS.labels(task.name).observe(time.perf_counter() - started)
    TASKS.labels(task.name, (state or "unknown").lower()).inc()
    if isinstance(retval, dict) and retval.get("dead_lettered"):
        DEAD_LETTERED.inc(retval["dead_lettered"])
    if task.name in celery_config.EMAIL_TASKS:
        _count_mail(state, retval)


def _count_mail(state: str | None, retval: object) -> None:
    if state == "SUCCESS" and isinstance(retval, dict):
        MAILS.labels("sent" if retval.get("sent") else "failed").inc()
    elif state == "FAILURE":  # retries ran out
        MAILS.labels("failed").inc()


@task_retry.connect
def _task_retried(sender=None, **_kwargs) -> None:
    TASK_RETRIES.labels(getattr(sender, "name", "unknown")).inc()


@events_written.connect
def _events_stored(count: int, **_kwargs) -> None:
    EVENTS_STORED.inc(count)


@worker_process_shutdown.connect
def _child_gone(pid: int | None = None, **_kwargs) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())


@worker_ready.connect
def _serve_metrics(sender=None, **_kwargs) -> None:
    """Serve the pool's counters over HTTP from the worker's main process, if configured."""
    config = sender.app.flask_app.config
    base = config["WORKER_METRICS_PORT"]
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # prometheus_client reads it too
    if not base:
        return
    if not folder:
        log.warning("WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR; not serving metrics")
        return
    port = base + pool_index(sender.app.amqp.queues.consume_from or {})
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    start_http_server(port, config["WORKER_METRICS_ADDR"], registry)
    log.info("worker metrics on port %d", port)


def pool_index(consumed_queues) -> int:
    """The position, in WORKER_POOLS, of the first pool whose queue this worker consumes."""
    for index, (queue, _default, _env) in enumerate(celery_config.WORKER_POOLS.values()):
        if queue in consumed_queues:
            return index
    return 0
