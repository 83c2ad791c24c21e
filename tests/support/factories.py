"""Things tests build: schemas, storage records, stored events, UUIDv7 ids, and apps
with settings of their own."""

from __future__ import annotations

import contextlib
import uuid

USER_LOGIN_SCHEMA = {
    "type": "object",
    "properties": {
        "eventName": {"const": "user_login"},
        "userId": {"type": "integer"},
        "method": {"enum": ["password", "google"]},
    },
    "required": ["eventName", "userId"],
}


def make_record(app_id: str, **fields) -> dict:
    """A storage record as the ingest path builds it (override any field)."""
    record = {
        "id": str(uuid.uuid4()),
        "app_id": app_id,
        "client_event_id": None,
        "event_name": "user_login",
        "payload": {"eventName": "user_login"},
        "payload_hash": "0" * 64,
        "status": "valid",
        "errors": [],
        "schema_version": None,
        "client_ts": None,
        "received_at": "2026-11-21T12:30:15+00:00",
    }
    record.update(fields)
    return record


def stored_events(app, app_id: str, specs: list[dict]) -> list[str]:
    """Store events for the dashboard tests directly (time-ordered ids, received now).

    Each spec overrides make_record's fields, e.g. {"status": "invalid", "errors": [...]}.
    Returns the ids, oldest first.
    """
    from datetime import UTC, datetime

    import uuid_utils

    from app.store.events import store_events

    records = []
    for spec in specs:
        spec = dict(spec)
        name = spec.pop("event_name", "user_login")
        records.append(
            make_record(
                app_id,
                id=str(uuid_utils.uuid7()),
                event_name=name,
                payload=spec.pop("payload", {"eventName": name}),
                received_at=datetime.now(UTC).isoformat(),
                **spec,
            )
        )
    with app.app_context():
        store_events(records)
    return [record["id"] for record in records]


def uuid7_at(moment, rng) -> str:
    """A UUIDv7 made at `moment` (random bits from `rng`), as the ingest path makes them."""
    milliseconds = int(moment.timestamp() * 1000)
    return str(uuid.UUID(int=(milliseconds << 80) | (0x7 << 76) | rng.getrandbits(62)))


@contextlib.contextmanager
def app_with(session_app, config: dict):
    """Build an app with its own settings; afterwards close its connections and make the
    session app's Celery the default again.

    Its "CELERY" URLs must win over CELERY_BROKER_URL / CELERY_RESULT_BACKEND, which the
    test session sets (`conf.broker_url` always echoes those variables; the URLs the app
    really uses are the read/write URLs and the backend's).
    """
    from app import create_app
    from app.extensions import db

    built = create_app(config)
    celery_app = built.extensions["celery"]
    overrides = config.get("CELERY", {})
    if "broker_url" in overrides:
        assert celery_app.conf.broker_write_url == overrides["broker_url"]
        assert celery_app.conf.broker_read_url == overrides["broker_url"]
    if "result_backend" in overrides:
        assert celery_app.backend.url == overrides["result_backend"]
    try:
        yield built
    finally:
        with built.app_context():
            db.engine.dispose()
        session_app.extensions["celery"].set_default()
