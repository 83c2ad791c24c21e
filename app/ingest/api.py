"""The /api blueprint: ingestion views, task states and JSON errors."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")


def api_blueprint() -> Blueprint:
    """The blueprint with every /api route registered on it."""
    from app.ingest import errors, task_state, views  # noqa: F401  (they register on bp)

    return bp
