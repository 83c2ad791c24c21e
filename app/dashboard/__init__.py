"""Developer pages: apps, overview, live stream, event detail, tracking plan, settings, system."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from app.dashboard import (  # noqa: E402, F401
    background,
    jobs,
    live,
    security,
    settings,
    system,
    views,
)
from app.dashboard.plan import pages as plan_pages  # noqa: E402, F401
