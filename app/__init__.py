"""Live Validation Dashboard: validate mobile-app events, queue them, store them once."""

from __future__ import annotations

import logging
import os

from flask import Flask, Response, render_template, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from app.auth.throttle import auth_limiter
from app.celery_client import celery_client
from app.config import Config
from app.extensions import csrf, db, login_manager, migrate
from app.ingest.group_commit import group_publisher
from app.ingest.publish import storage_sender
from app.ingest.ratelimit import ingest_limiter
from app.ingest.registry import registry
from app.models.types import rfc3339
from app.ops.metrics import metrics
from app.testapi.waiters import stored_notices

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "migrations")


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
    configure_logging(app.config["LOG_LEVEL"])
    if app.config["PROXY_FIX_X_FOR"]:
        hops = app.config["PROXY_FIX_X_FOR"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    register_extensions(app)
    register_blueprints(app)
    app.add_template_filter(rfc3339)
    register_error_handlers(app)
    register_commands(app)
    return app


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def register_extensions(app: Flask) -> None:
    """Bind every extension to the app (none connects to a server yet)."""
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS)
    csrf.init_app(app)
    login_manager.init_app(app)
    auth_limiter.init_app(app)
    registry.init_app(app)
    ingest_limiter.init_app(app)
    group_publisher.init_app(app)
    celery_client.init_app(app, make_sender=storage_sender)
    metrics.init_app(app)
    stored_notices.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Mount the ingestion API, the account and dashboard pages, the health check and the
    OpenAPI document."""
    from app.auth import bp as auth_bp
    from app.auth.sessions.cookies import PagesOnlySessionInterface
    from app.dashboard import bp as dashboard_bp
    from app.dashboard.api import bp as dashboard_api_bp
    from app.dashboard.landing import bp as landing_bp
    from app.ingest.api import api_blueprint
    from app.ingest.segment import segment_blueprint
    from app.openapi.document import bp as openapi_bp
    from app.ops.health import bp as health_bp
    from app.testapi import test_api_blueprint

    api_bp, segment_bp, test_api_bp = api_blueprint(), segment_blueprint(), test_api_blueprint()
    for exempt in (api_bp, segment_bp, test_api_bp):
        # The ingestion APIs authenticate with ingest keys; the test API's read tokens need
        # no CSRF token, and its session requests are checked in testapi.access.
        csrf.exempt(exempt)
    # The dashboard's JSON lives under /api too, but is read with the page's session cookie.
    app.session_interface = PagesOnlySessionInterface(
        (api_bp.url_prefix, segment_bp.url_prefix),
        session_prefixes=(dashboard_api_bp.url_prefix,),
    )
    blueprints = (api_bp, segment_bp, auth_bp, dashboard_bp, dashboard_api_bp, test_api_bp)
    for blueprint in (*blueprints, landing_bp, health_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(openapi_bp)


_PAGE_MESSAGES = {
    404: "There is no such page here, or it belongs to an app you are not a member of. "
    "Check the address, or go back to your apps.",
    405: "That address does not take this kind of request; open it from a page's link or form.",
}


def register_error_handlers(app: Flask) -> None:
    """Site-wide error pages; JSON under /api and /v1 (their blueprints have their own
    handlers, but an unknown path or method never reaches a blueprint)."""

    def render_error(error: HTTPException) -> tuple[Response | str, int]:
        status = error.code or 500
        if request.path.startswith("/v1/"):
            from app.ingest.segment.errors import segment_error

            code = (error.name or "error").lower().replace(" ", "_")
            return segment_error(status, code, error.description or error.name), status
        if request.path.startswith("/api/"):
            from app.ingest.errors import error_response

            code = (error.name or "error").lower().replace(" ", "_")
            return error_response(status, code, error.description or error.name), status
        message = _PAGE_MESSAGES.get(status, error.description)
        return render_template("error.html", title=error.name, message=message), status

    def render_server_error(error: Exception) -> tuple[Response | str, int]:
        app.logger.exception("unhandled error", exc_info=error)
        if request.path.startswith("/v1/"):
            from app.ingest.segment.errors import segment_error

            return segment_error(500, "internal_error", "an unexpected error occurred"), 500
        if request.path.startswith("/api/"):
            from app.ingest.errors import error_response

            return error_response(500, "internal_error", "an unexpected error occurred"), 500
        message = "Something went wrong on our side. Try again in a moment."
        return render_template("error.html", title="Server error", message=message), 500

    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(Exception, render_server_error)


def register_commands(app: Flask) -> None:
    from app.cli import register_commands as register

    register(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Let standalone's several processes share one SQLite file safely."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
