"""The ingestion JSON API: /api/logs, /api/tasks."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from app.api import errors, ingest, tasks  # noqa: E402,F401
