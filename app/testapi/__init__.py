"""The test API for CI suites: wait for a stored event, search events, by read token."""

from flask import Blueprint

bp = Blueprint("test_api", __name__, url_prefix="/api/apps")


def test_api_blueprint() -> Blueprint:
    """The blueprint with the test API's routes registered on it."""
    from app.testapi import views  # noqa: F401  (registers the routes on bp)

    return bp
