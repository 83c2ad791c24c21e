"""The landing page: what is running and how to send a first event (no login needed)."""

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

bp = Blueprint("landing", __name__)


@bp.get("/")
def index() -> str:
    """Show the service's endpoints and where to look next."""
    return render_template("index.html")


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico on their own; the icon is an SVG in static/."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)
