"""The test API for CI suites: wait for a stored event, search events, by read token."""

from flask import Blueprint

bp = Blueprint("test_api", __name__, url_prefix="/api/apps")


def test_api_blueprint() -> Blueprint:
    """The blueprint with the test API's routes registered on it."""
    from app.dashboard.api import _no_nul_characters
    from app.testapi import views  # noqa: F401  (registers the routes on bp)

    if _no_nul_characters not in bp.before_request_funcs.get(None, []):
        # The same guard as the dashboard's JSON: PostgreSQL text cannot hold NUL.
        bp.before_request(_no_nul_characters)
    return bp
