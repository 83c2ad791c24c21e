"""Live Validation Dashboard: validate mobile-app events, queue them, store them once."""

from __future__ import annotations

import logging
import os

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Config
from app.extensions import csrf, db, login_manager, migrate


def create_app(config: dict | None = None) -> Flask:
    """Build the web app; `config` overrides settings read from the environment."""
    settings = Config()
    app = Flask(
        __name__,
        instance_path=settings.INSTANCE_PATH,
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.from_object(settings)
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    if app.config["PROXY_FIX_X_FOR"]:
        hops = app.config["PROXY_FIX_X_FOR"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)

    from app.api.ratelimit import IngestRateLimiter
    from app.auth import throttle
    from app.celery_app import celery_init_app
    from app.publisher import GroupPublisher
    from app.redis_publisher import task_sender
    from app.registry import Registry

    app.extensions["registry"] = Registry(app.config["REGISTRY_REFRESH_SECONDS"])
    app.extensions["ingest_rate_limiter"] = IngestRateLimiter(
        app.config["RATELIMIT_STORAGE_URI"], app.config["INGEST_RATE_LIMIT"]
    )
    app.extensions["publisher"] = GroupPublisher(
        app.config["PUBLISH_GROUP_MAX_EVENTS"], app.config["PUBLISH_LINGER_MS"] / 1000
    )
    throttle.init_app(app)
    celery_app = celery_init_app(app)
    app.extensions["task_sender"] = task_sender(celery_app)

    from app.api import bp as api_bp
    from app.auth import bp as auth_bp
    from app.cookie_sessions import PagesOnlySessionInterface
    from app.dashboard import bp as dashboard_bp
    from app.health import bp as health_bp
    from app.pages import bp as pages_bp

    csrf.exempt(api_bp)  # the ingestion API authenticates with ingest keys, not cookies
    app.session_interface = PagesOnlySessionInterface(api_bp.url_prefix)
    app.register_blueprint(api_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(pages_bp)

    from app.cli import register_commands

    register_commands(app)
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Let standalone's several processes share one SQLite file safely."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
