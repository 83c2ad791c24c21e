"""Developer pages: apps, overview, live stream, event detail, tracking plan, settings, system."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from app.dashboard import (  # noqa: E402,F401
    background,
    jobs,
    live,
    plan_pages,
    security,
    settings,
    system,
    views,
)
