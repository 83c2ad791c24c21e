"""The landing page: what is running and how to send a first event (no login needed)."""

from flask import Blueprint, render_template

bp = Blueprint("landing", __name__)


@bp.get("/")
def index() -> str:
    """Show the service's endpoints and where to look next."""
    return render_template("index.html")
