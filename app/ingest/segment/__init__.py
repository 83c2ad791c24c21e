"""Segment's HTTP Tracking API at /v1: apps keep the Segment SDK they carry, change its host."""

from flask import Blueprint

bp = Blueprint("segment", __name__, url_prefix="/v1")


def segment_blueprint() -> Blueprint:
    """The blueprint with every /v1 route registered on it."""
    from app.ingest.segment import errors, views  # noqa: F401  (they register on bp)

    return bp
