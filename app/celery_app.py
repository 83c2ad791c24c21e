"""Build the Celery app from `celery_config` and run every task inside a Flask app context."""

from __future__ import annotations

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask, has_app_context

import celery_config
from app.extensions import db
from app.heartbeat import HeartbeatStep


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            # Reuse an active context (eager calls, tests) instead of nesting a new session.
            if has_app_context():
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    overrides = _overrides(app.config.get("CELERY", {}))
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config)
    celery_app.conf.update(overrides)
    # Set as backend_cls because Celery prefers the raw CELERY_RESULT_BACKEND to settings.
    celery_app.backend_cls = overrides.get("result_backend") or celery_config.result_backend
    celery_app.flask_app = app  # for work that runs outside a task (storage_batching)
    celery_app.set_default()
    celery_app.steps["worker"].add(_HeartbeatInContext(app))
    app.extensions["celery"] = celery_app

    @worker_process_init.connect(weak=False)
    def _fresh_connections_after_fork(**_kwargs) -> None:
        # Pool connections inherited from the parent must never be shared with a child.
        with app.app_context():
            db.engine.dispose(close=False)

    from app import tasks  # noqa: F401  (registers the tasks)

    return celery_app


def _overrides(settings: dict) -> dict:
    """Per-app Celery settings (tools, tests) that must beat the CELERY_* environment,
    which Celery otherwise prefers for the broker and result URLs."""
    settings = dict(settings)
    if "broker_url" in settings:
        settings.setdefault("broker_read_url", settings["broker_url"])
        settings.setdefault("broker_write_url", settings["broker_url"])
        settings.setdefault(
            "broker_transport", celery_config.broker_transport_for(settings["broker_url"])
        )
    if "result_backend" in settings:
        settings["result_backend"] = celery_config.publish_only(settings["result_backend"])
    return settings


def _HeartbeatInContext(app: Flask) -> type:
    class Heartbeat(HeartbeatStep):
        def beat(self, worker) -> None:
            with app.app_context():
                super().beat(worker)

        def stop(self, worker) -> None:
            with app.app_context():
                super().stop(worker)

    return Heartbeat
