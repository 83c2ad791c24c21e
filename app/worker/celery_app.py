"""The workers' Celery: the client's settings plus the tasks, the Redis transport that
consumes without loss, the heartbeat, and every task run inside a Flask app context."""

from __future__ import annotations

from celery import Celery, Task
from celery.signals import worker_init, worker_process_init
from flask import Flask, has_app_context

import celery_config
from app.celery_client import build_celery
from app.extensions import db
from app.ops.durability import UndurableBroker, check_broker_at_start
from app.worker.database_limits import limit_statement_waits
from app.worker.heartbeat import HeartbeatStep
from app.worker.transport.library_versions import check_library_versions


class FlaskTask(Task):
    """A task that runs in its Flask app's context."""

    def __call__(self, *args, **kwargs):
        # Reuse an active context (eager calls, tests) instead of nesting a new session.
        if has_app_context():
            return self.run(*args, **kwargs)
        with self.app.flask_app.app_context():
            return self.run(*args, **kwargs)


def metered_worker(base: type) -> type:
    """The worker class of the metered profile: mingle, gossip and worker-heartbeat events
    off however the worker is started, `celery -A run.celery_app worker -Q default` too.

    With mingle on, a worker's start-up exchange waits on the metered transport's long
    receive (METERED_RECEIVE_WAIT, 300 s) instead of one second, and a worker started
    with Celery's own command stored none of 5 events answered 202 meanwhile;
    start_celery_worker.sh passes the three options, which this makes the rule.
    """

    class MeteredWorker(base):
        def __init__(self, *args, **kwargs) -> None:
            kwargs.update(without_mingle=True, without_gossip=True, without_heartbeat=True)
            super().__init__(*args, **kwargs)

    return MeteredWorker


def worker_celery(app: Flask) -> Celery:
    """Return the app's Celery as a worker needs it (built once per app).

    It replaces the client in `app.extensions["celery"]`, so the CLI and health checks of
    a worker process see the same Celery as its tasks.
    """
    existing = app.extensions.get("celery")
    if getattr(existing, "runs_tasks", False):
        return existing
    check_library_versions()
    celery_app = build_celery(app, task_cls=FlaskTask)
    celery_app.runs_tasks = True
    transport = celery_config.worker_transport_for(
        celery_app.conf.broker_read_url or celery_app.conf.broker_url or ""
    )
    if transport:
        celery_app.conf.broker_transport = transport
    if celery_config.QUORUM_QUEUES:
        celery_app.conf.worker_consumer = "app.worker.transport.amqp_consumer:Consumer"
    if celery_config.METERED:
        celery_app.Worker = metered_worker(celery_app.Worker)
    celery_app.set_default()
    celery_app.steps["worker"].add(HeartbeatStep)
    app.extensions["celery"] = celery_app

    with app.app_context():
        limit_statement_waits(
            db.engine,
            celery_config.STORAGE_LOCK_TIMEOUT_MS,
            celery_config.STORAGE_STATEMENT_TIMEOUT_MS,
        )

    @worker_init.connect(weak=False)
    def _check_broker_durability(**_kwargs) -> None:
        try:
            check_broker_at_start(celery_app.conf.broker_read_url or "", "worker")
        except UndurableBroker as refused:
            raise SystemExit(str(refused)) from None  # Celery logs and ignores Exceptions

    @worker_process_init.connect(weak=False)
    def _fresh_connections_after_fork(**_kwargs) -> None:
        # Pool connections inherited from the parent must never be shared with a child.
        with app.app_context():
            db.engine.dispose(close=False)

    # Registers the tasks; metrics connects the task signals.
    from app.worker import metrics, tasks  # noqa: F401

    return celery_app
