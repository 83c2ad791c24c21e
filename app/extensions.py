"""Extensions, created unbound here and bound to each app with `init_app` in `create_app`.

Several Flask apps may live in one process (tests, tools), so an extension keeps its
state per app; nothing connects to a server before a request needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from app.celery_client import CeleryClient
from app.ops.metrics import Metrics


class Base(DeclarativeBase):
    pass


class PerApp:
    """An extension whose state, built by `factory(app)`, belongs to each app.

    Attributes are looked up on the current app's state: `registry.app(app_id)`.
    """

    def __init__(self, name: str, factory: Callable[[Flask], Any]) -> None:
        self._name = name
        self._factory = factory

    def init_app(self, app: Flask) -> None:
        app.extensions[self._name] = self._factory(app)

    def state(self, app: Flask | None = None) -> Any:
        """This extension's state for `app` (default: the current app)."""
        return (app or current_app).extensions[self._name]

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.state(), attribute)


def _registry(app: Flask):
    from app.ingest.registry import Registry

    return Registry(app.config["REGISTRY_REFRESH_SECONDS"])


def _ingest_limiter(app: Flask):
    from app.ingest.ratelimit import IngestRateLimiter

    return IngestRateLimiter(app.config["RATELIMIT_STORAGE_URI"], app.config["INGEST_RATE_LIMIT"])


def _group_publisher(app: Flask):
    from app.ingest.group_commit import GroupPublisher

    return GroupPublisher(
        app.config["PUBLISH_GROUP_MAX_EVENTS"], app.config["PUBLISH_LINGER_MS"] / 1000
    )


def _auth_limiter(app: Flask):
    from app.auth.throttle import build_limiter

    return build_limiter(app.config["RATELIMIT_STORAGE_URI"])


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
celery_client = CeleryClient()
metrics = Metrics()  # request hooks and /metrics
registry = PerApp("registry", _registry)
ingest_limiter = PerApp("ingest_limiter", _ingest_limiter)
group_publisher = PerApp("group_publisher", _group_publisher)
auth_limiter = PerApp("auth_limiter", _auth_limiter)
