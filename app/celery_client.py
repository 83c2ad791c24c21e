"""The web tier's Celery: a client that submits tasks by name and reads their states.

It is built from `celery_config` alone and registers no task: gunicorn never imports
worker code. Workers build their own Celery from the same settings
(`app.worker.celery_app`), with the tasks, the Redis transport and the heartbeat.

The ingest side hands it the sender that publishes storage messages (`init_app`'s
`make_sender`), so this module imports nothing from the packages that use it.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery
from celery.result import AsyncResult
from flask import Flask, current_app

import celery_config

# send(task_name, args, task_id, argsrepr): one storage message, the fastest way.
Send = Callable[[str, tuple, str, str], None]


def build_celery(app: Flask, **celery_options) -> Celery:
    """A Celery configured from celery_config, then from the app's "CELERY" overrides."""
    overrides = _overrides(app.config.get("CELERY", {}))
    celery_config.create_folders()  # the standalone broker's and results' (none otherwise)
    celery_app = Celery(app.name, **celery_options)
    celery_app.config_from_object(celery_config)
    celery_app.conf.update(overrides)
    # Set as backend_cls because Celery prefers the raw CELERY_RESULT_BACKEND to settings.
    celery_app.backend_cls = overrides.get("result_backend") or celery_config.result_backend
    celery_app.flask_app = app
    return celery_app


def _overrides(settings: dict) -> dict:
    """Per-app Celery settings (tools, tests) that must beat the CELERY_* environment,
    which Celery otherwise prefers for the broker and result URLs."""
    settings = dict(settings)
    if "broker_url" in settings:
        settings.setdefault("broker_read_url", settings["broker_url"])
        settings.setdefault("broker_write_url", settings["broker_url"])
    if "result_backend" in settings:
        settings["result_backend"] = celery_config.result_backend_for(settings["result_backend"])
    return settings


class CeleryClient:
    """Flask extension: the app's Celery client and its fast task sender."""

    def init_app(self, app: Flask, make_sender: Callable[[Flask, Celery], Send]) -> None:
        """Build the app's Celery; `make_sender(app, celery)` gives the storage sender."""
        celery_app = build_celery(app)
        celery_app.set_default()
        app.extensions["celery"] = celery_app
        app.extensions["celery_send"] = make_sender(app, celery_app)

    def submit(self, task_name: str, args: tuple, **options) -> AsyncResult:
        """Queue a task by name."""
        return self.app.send_task(task_name, args=args, **options)

    @property
    def app(self) -> Celery:
        """The current Flask app's Celery."""
        return current_app.extensions["celery"]

    @property
    def send(self) -> Send:
        """send(task_name, args, task_id, argsrepr): one storage message, the fastest way."""
        return current_app.extensions["celery_send"]


celery_client = CeleryClient()
