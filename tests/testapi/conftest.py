"""Fixtures of the test API's tests: an app with a schema and a read token, event seeding."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboard.conftest import sign_in, team  # noqa: F401  (developers with a session)
from tests.support.factories import USER_LOGIN_SCHEMA, make_record, uuid7_at


@pytest.fixture
def tracked(app, make_tracked_app):
    """An app with the user_login schema: {"id", "key", "name", "token", "bearer"}."""
    from app.models import App
    from app.store import read_tokens

    made = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    with app.app_context():
        _row, token = read_tokens.create_read_token(App.lookup(made["id"]))
    return {**made, "token": token, "bearer": {"Authorization": f"Bearer {token}"}}


@pytest.fixture
def seed(app):
    """Return seed(app_id, specs): store events directly, `minutes_ago` apart; return ids.

    Each spec overrides make_record's fields and may set `minutes_ago` (default 0).
    """
    from app.store.events import store_events

    rng = random.Random()

    def store(app_id: str, specs: list[dict]) -> list[str]:
        now = datetime.now(UTC)
        records = []
        for spec in specs:
            spec = dict(spec)
            moment = now - timedelta(minutes=spec.pop("minutes_ago", 0))
            name = spec.pop("event_name", "user_login")
            records.append(
                make_record(
                    app_id,
                    **{
                        "id": uuid7_at(moment, rng),
                        "event_name": name,
                        "payload": {"eventName": name},
                        "received_at": moment.isoformat(),
                        **spec,
                    },
                )
            )
        with app.app_context():
            store_events(records)
        return [record["id"] for record in records]

    return store
