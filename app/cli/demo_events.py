"""A few minutes of mixed demo events, so a newcomer's first look at the dashboard shows
a live stream, a chart and grouped errors rather than empty pages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import uuid_utils
from sqlalchemy import select

from app.extensions import db
from app.ingest.records import build_record
from app.ingest.registry import AppEntry, PlannedEvent
from app.models import App, Event
from app.store.catalog import latest_schemas
from app.store.events import store_events
from app.validation import compile_validator

SEED_MINUTES = 5
EVENTS_PER_MINUTE = 60


def seed_if_empty(app: App, now: datetime | None = None) -> int:
    """Store SEED_MINUTES of mixed events for an app that has none; return how many."""
    if db.session.scalar(select(Event.id).where(Event.app_id == app.id).limit(1)):
        return 0
    now = now or datetime.now(UTC)
    entry = AppEntry(id=str(app.id), name=app.name, key_digests=frozenset(), rate_limit=None)
    for schema in latest_schemas(app.id):
        entry.plan[schema.event_name] = PlannedEvent(
            schema.version, compile_validator(schema.schema)
        )
    chooser = random.Random(7)  # the same demo every time
    total = SEED_MINUTES * EVENTS_PER_MINUTE
    records = []
    for index in range(total):
        received = now - timedelta(seconds=SEED_MINUTES * 60 * (total - index) / total)
        record = build_record(entry, demo_event(chooser, index), received)
        record["id"] = str(uuid_utils.uuid7(nanoseconds=int(received.timestamp() * 1e9)))
        records.append(record)
    return store_events(records)


def demo_event(chooser: random.Random, index: int) -> dict:
    """One event of the demo mix: mostly valid logins, some broken ones, unplanned names."""
    roll = chooser.random()
    user_id = chooser.randint(1, 5000)
    if roll < 0.65:
        method = chooser.choice(["password", "google", "apple"])
        return {"eventName": "user_login", "userId": user_id, "method": method}
    if roll < 0.75:
        return {"eventName": "user_login", "userId": str(user_id), "method": "password"}
    if roll < 0.80:
        return {"eventName": "user_login", "method": "facebook"}
    if roll < 0.90:
        screen = chooser.choice(["home", "cart", "settings"])
        return {"eventName": "screen_view", "screen": screen, "userId": user_id}
    return {
        "eventName": "add_to_cart",
        "sku": f"SKU-{chooser.randint(100, 999)}",
        "quantity": chooser.randint(1, 3),
        "price": round(chooser.uniform(2, 80), 2),
        "eventId": f"demo-{index}",
    }
