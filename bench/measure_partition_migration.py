"""Time migration 0005 (partitioning `events`) on 1,000,000 stored events, and its downgrade.

Run from the project folder against a scratch database (it is dropped and re-created):
  PYTHONPATH=. DATABASE_URL=postgresql://.../lvd_scratch_migration \\
    .venv/bin/python bench/measure_partition_migration.py [ROWS]

Rows are made by PostgreSQL (bench/million.py: one event every 2.5 s back in time, so
about 29 day partitions), every one with a client eventId (the worst case: every row
also goes into event_client_ids), and counters equal to them.
"""

import os
import sys
import time
import uuid

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app import create_app
from app.config import PROJECT_ROOT
from app.extensions import db
from bench.million import counters_sql, events_sql
from tests.support.databases import recreate_database

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
MIGRATIONS = str(PROJECT_ROOT / "migrations")

recreate_database(os.environ["DATABASE_URL"])
app = create_app()
with app.app_context():
    upgrade(directory=MIGRATIONS, revision="0004")
    apps = [uuid.uuid4(), uuid.uuid4()]
    for n, app_id in enumerate(apps):
        db.session.execute(
            text("INSERT INTO apps (id, name, created_at) VALUES (:id, :name, now())"),
            {"id": str(app_id), "name": f"measure-{n}"},
        )
    generate = events_sql("events", str(apps[0]), str(apps[1]), ROWS)
    db.session.execute(text(generate.replace("NULL, CASE", "'c-' || i, CASE", 1)))
    db.session.execute(text(counters_sql("events", "event_counts")))
    db.session.commit()
    db.session.execute(text("ANALYZE events"))
    db.session.commit()
    size = db.session.scalar(text("SELECT pg_size_pretty(pg_total_relation_size('events'))"))
    print(f"{ROWS} events, {size} with indexes")
    started = time.perf_counter()
    upgrade(directory=MIGRATIONS, revision="0005")
    took = time.perf_counter() - started
    days = db.session.scalar(
        text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
    )
    print(
        f"upgrade 0004 -> 0005: {took:.1f} s "
        f"({took * 1_000_000 / ROWS:.1f} s per million rows), {days} partitions"
    )
    db.session.rollback()
    started = time.perf_counter()
    downgrade(directory=MIGRATIONS, revision="0004")
    took = time.perf_counter() - started
    print(
        f"downgrade 0005 -> 0004: {took:.1f} s ({took * 1_000_000 / ROWS:.1f} s per million rows)"
    )
