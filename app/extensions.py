"""Extensions, created unbound here and bound to each app with `init_app` in `create_app`.

This module imports nothing from `app`: every package may import it. Extensions that
belong to one package (the registry, limiters, group publisher, metrics, Celery client)
are defined by their owner, as `PerApp` objects or classes with `init_app`.

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


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
