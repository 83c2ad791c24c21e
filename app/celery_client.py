"""The web tier's Celery: a client that submits tasks by name and reads their states.

It is built from `celery_config` alone and registers no task: gunicorn never imports
worker code. Workers build their own Celery from the same settings
(`app.worker.celery_app`), with the tasks, the Redis transport and the heartbeat.

Inline mode (CELERY_ENABLED=false, for tiny deployments and debugging) runs the work in
the request instead: storage (`ingest.publish.StoreInline`) and mail (the mail task's
own functions, loaded only in this mode). Other tasks still go to the broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from celery import Celery
from celery.result import AsyncResult, EagerResult
from flask import Flask, current_app

import celery_config


def build_celery(app: Flask, **celery_options) -> Celery:
    """A Celery configured from celery_config, then from the app's "CELERY" overrides."""
    overrides = _overrides(app.config.get("CELERY", {}))
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

    def init_app(self, app: Flask) -> None:
        from app.ingest.kombu_publish import task_sender
        from app.ingest.publish import StoreInline

        celery_app = build_celery(app)
        celery_app.set_default()
        app.extensions["celery"] = celery_app
        inline = not app.config.get("CELERY_ENABLED", True)
        app.extensions["celery_send"] = (
            StoreInline(celery_app) if inline else task_sender(celery_app)
        )

    def submit(self, task_name: str, args: tuple, **options) -> AsyncResult:
        """Queue a task by name; in inline mode, run a mail task here and now."""
        if current_app.config.get("CELERY_ENABLED", True) or task_name not in (
            celery_config.EMAIL_TASKS
        ):
            return self.app.send_task(task_name, args=args, **options)
        return _send_mail_inline(*args)

    @property
    def app(self) -> Celery:
        """The current Flask app's Celery."""
        return current_app.extensions["celery"]

    @property
    def send(self) -> Callable[[str, tuple, str, str], None]:
        """send(task_name, args, task_id, argsrepr): one storage message, the fastest way."""
        return current_app.extensions["celery_send"]


def _send_mail_inline(
    email: str, subject: str, html_body: str, text_body: str | None = None
) -> EagerResult:
    """Inline mode: send a mail in the request with the mail task's functions (no retries)."""
    from app.worker.mail import build_message, deliver  # inline mode only: no worker

    config = current_app.config
    message = build_message(config["MAIL_DEFAULT_SENDER"], email, subject, html_body, text_body)
    where = deliver(message, config)  # an error reaches the caller, which logs it
    return EagerResult(str(uuid.uuid4()), {"sent": True, "to": email, "via": where}, "SUCCESS")
