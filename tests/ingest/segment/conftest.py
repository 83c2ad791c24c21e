"""Fixtures for the Segment-compatible routes: an inline app and a tracked app with a plan."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import text

from app.extensions import db
from tests.support.factories import app_with

SIGNED_UP_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"const": "Signed Up"},
        "properties": {
            "type": "object",
            "properties": {"plan": {"enum": ["free", "pro"]}},
            "required": ["plan"],
        },
    },
    "required": ["properties"],
}
IDENTIFY_SCHEMA = {
    "type": "object",
    "properties": {"traits": {"type": "object", "required": ["email"]}},
    "required": ["traits"],
}


@pytest.fixture(scope="module")
def inline_app(app):
    """The app in inline mode (CELERY_ENABLED=false): storage runs in the request."""
    with app_with(app, {"TESTING": True, "CELERY_ENABLED": False}) as built:
        yield built


@pytest.fixture
def planned(make_tracked_app):
    """An app whose plan has a `Signed Up` track and an `identify` schema."""
    return make_tracked_app(schemas={"Signed Up": SIGNED_UP_SCHEMA, "identify": IDENTIFY_SCHEMA})


def basic_auth(key: str) -> dict:
    """Segment's SDK header: the key as user name, an empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def stored_messages(flask_app, app_id: str) -> list[dict]:
    """Every stored event of the app, oldest first, with what the event page reads."""
    with flask_app.app_context():
        rows = db.session.execute(
            text(
                "SELECT event_name, status, errors, client_event_id, client_ts, received_at,"
                " payload FROM events WHERE app_id = :app ORDER BY received_at, id"
            ),
            {"app": uuid.UUID(app_id)},
        ).mappings()
        found = [dict(row) for row in rows]
        db.session.rollback()
    return found
