"""Developer pages: the apps a developer belongs to, their members and invitations."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from app.dashboard import background, jobs, views  # noqa: E402,F401
