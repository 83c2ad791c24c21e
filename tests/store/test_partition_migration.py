"""Migration 0005 converts a populated pre-0005 database: rows and counters intact,
client eventId idempotency still enforced; its downgrade gives the old table back."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from flask_migrate import downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import PROJECT_ROOT, normalize_database_url
from app.extensions import db
from app.store import catalog, partitions
from app.store.events import store_events
from tests.background import counters_equal_rows, event_id_at
from tests.support.databases import recreate_database
from tests.support.environment import TEST_DATABASE_URL
from tests.support.factories import app_with, make_record

MIGRATIONS = str(PROJECT_ROOT / "migrations")
SCRATCH_URL = (
    make_url(TEST_DATABASE_URL)
    .set(database=make_url(TEST_DATABASE_URL).database + "_migration")
    .render_as_string(hide_password=False)
)
_INSERT = text(
    "INSERT INTO events (id, client_event_id, app_id, event_name, payload, payload_hash, "
    "status, errors, received_at, stored_at) VALUES (CAST(:id AS uuid), :client_event_id, "
    "CAST(:app_id AS uuid), :event_name, '{}', :payload_hash, :status, '[]', :received_at, now())"
)
_COUNT_ALL = text(
    "INSERT INTO event_counts (app_id, minute, event_name, status, count) "
    "SELECT app_id, date_trunc('minute', received_at, 'UTC'), event_name, status, count(*) "
    "FROM events GROUP BY 1, 2, 3, 4"
)
# The columns of 0005's table (later migrations add some, which its downgrade drops).
_COLUMNS_0005 = (
    "id, client_event_id, app_id, event_name, payload, payload_hash, status, errors, "
    "schema_version, client_ts, received_at, stored_at"
)
_FINGERPRINT = text(
    f"SELECT count(*), md5(string_agg(row({_COLUMNS_0005})::text, '|' ORDER BY id)) FROM events"
)


def _fill_pre_0005(app_id: str, rng: random.Random) -> dict:
    """Events of the last three days (UUIDv7 ids), a few with uuid4 ids, half with eventIds."""
    now = datetime.now(UTC)
    rows = []
    for i in range(600):
        moment = now - timedelta(minutes=rng.randrange(3 * 24 * 60))
        event_id = event_id_at(moment) if i % 50 else str(uuid.uuid4())
        rows.append(
            make_record(
                app_id,
                id=event_id,
                client_event_id=f"c-{i}" if i % 2 else None,
                event_name=rng.choice(("a", "b")),
                status=rng.choice(("valid", "invalid", "unplanned")),
                received_at=moment,
            )
        )
    db.session.execute(_INSERT, rows)
    db.session.execute(_COUNT_ALL)
    db.session.commit()
    return {"rows": rows, "days": {(r["received_at"]).date() for r in rows if r["id"][14] == "7"}}


def test_the_migration_converts_a_populated_database(app):
    recreate_database(SCRATCH_URL)
    config = {"SQLALCHEMY_DATABASE_URI": normalize_database_url(SCRATCH_URL), "TESTING": True}
    with app_with(app, config) as scratch, scratch.app_context():
        upgrade(directory=MIGRATIONS, revision="0004")
        created, _key = catalog.create_app("migrated")
        app_id = str(created.id)
        filled = _fill_pre_0005(app_id, random.Random(5))
        before = db.session.execute(_FINGERPRINT).one()
        counters_before = db.session.execute(
            text("SELECT * FROM event_counts ORDER BY 1, 2, 3, 4")
        ).all()
        db.session.rollback()

        upgrade(directory=MIGRATIONS, revision="0005")

        assert partitions.is_partitioned()
        assert db.session.execute(_FINGERPRINT).one() == before
        assert (
            db.session.execute(text("SELECT * FROM event_counts ORDER BY 1, 2, 3, 4")).all()
            == counters_before
        )
        assert counters_equal_rows(app_id)
        assert set(partitions.day_partitions()) >= filled["days"]
        in_default = db.session.scalar(text("SELECT count(*) FROM events_default"))
        assert in_default == len([r for r in filled["rows"] if r["id"][14] != "7"])
        claims = db.session.scalar(text("SELECT count(*) FROM event_client_ids"))
        assert claims == 300
        db.session.rollback()  # the migration's ALTER TABLE waits for our reads to end
        upgrade(directory=MIGRATIONS)  # today's write path needs the newest columns (0007)
        # Idempotency still holds: a retry of an old eventId with a new id stores nothing.
        # (Storage writes only at this code's own revision: the later migrations first.)
        db.session.rollback()
        upgrade(directory=MIGRATIONS)
        now = datetime.now(UTC)
        retry = make_record(
            app_id, id=event_id_at(now), client_event_id="c-1", received_at=now.isoformat()
        )
        assert store_events([retry]) == 0
        fresh = make_record(
            app_id, id=event_id_at(now), client_event_id="new", received_at=now.isoformat()
        )
        assert store_events([fresh]) == 1
        assert counters_equal_rows(app_id)
        after = db.session.execute(_FINGERPRINT).one()
        db.session.rollback()

        downgrade(directory=MIGRATIONS, revision="0004")

        assert not partitions.is_partitioned()
        assert db.session.execute(_FINGERPRINT).one() == after
        assert counters_equal_rows(app_id)
        unique = db.session.scalar(
            text(
                "SELECT indisunique FROM pg_index "
                "WHERE indexrelid = 'uq_events_app_client_event_id'::regclass"
            )
        )
        assert unique
        db.session.rollback()
