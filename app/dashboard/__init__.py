"""Developer pages: apps, overview, live stream, event detail, tracking plan, settings, system."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from app.dashboard import jobs, live, security, system, views  # noqa: E402, F401
from app.dashboard.plan import pages as plan_pages  # noqa: E402, F401
from app.dashboard.settings import background, keys  # noqa: E402, F401
