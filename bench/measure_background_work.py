"""Time a rollup, a retention pass and a re-validation on 200,000 stored events.

Run from the project folder against a scratch database (it migrates it and adds an app):
  PYTHONPATH=. DATABASE_URL=postgresql://.../lvd_bench_jobs \\
    .venv/bin/python bench/measure_background_work.py
"""

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from flask_migrate import upgrade

from app import create_app
from app.config import PROJECT_ROOT
from tests.support.factories import USER_LOGIN_SCHEMA, make_record

app = create_app()
with app.app_context():
    upgrade(directory=str(PROJECT_ROOT / "migrations"))
    from app.background import retention, revalidation
    from app.models import App
    from app.store import catalog
    from app.store.events import store_events
    from app.store.rollups import compute as rollups
    from tests.store import rollup_tables as rollup_reads

    created, _ = catalog.create_app(f"measure-{uuid.uuid4().hex[:6]}")
    catalog.set_schema(created, "user_login", USER_LOGIN_SCHEMA)
    app_id = str(created.id)
    rng = random.Random(1)
    now = datetime.now(UTC)
    errs = [
        [{"path": "/userId", "keyword": "type", "message": "x"}],
        [{"path": "", "keyword": "required", "message": "x"}],
        [{"path": "/method", "keyword": "enum", "message": "x"}],
    ]
    for _batch in range(40):
        recs = []
        for _ in range(5000):
            invalid = rng.random() < 0.3
            recs.append(
                make_record(
                    app_id,
                    status="invalid" if invalid else "valid",
                    errors=rng.choice(errs) if invalid else [],
                    schema_version=1,
                    payload={"eventName": "user_login", "userId": rng.choice([1, "x"])},
                    received_at=(now - timedelta(seconds=rng.uniform(0, 7000))).isoformat(),
                )
            )
        store_events(recs)
    for label in (
        "rollup 2 h window, 200k events (60k invalid), first",
        "rollup again (idempotent)",
    ):
        t = time.perf_counter()
        r = rollups.roll_up(created.id, hours=2)
        print(f"{label}: {time.perf_counter() - t:.2f} s, total {r['total']}")
    t = time.perf_counter()
    rollup_reads.rollup_series(created.id, now - timedelta(days=90), now, "day")
    print(f"rollup_series 90 days: {1000 * (time.perf_counter() - t):.1f} ms")
    catalog.set_schema(
        App.lookup(app_id),
        "user_login",
        {**USER_LOGIN_SCHEMA, "properties": {"userId": {"type": ["integer", "string"]}}},
    )
    job = revalidation.start_revalidation(
        created.id, "user_login", now - timedelta(hours=3), now + timedelta(minutes=1), 2
    )
    t = time.perf_counter()
    out = revalidation.run_revalidation(job.id, 1000)
    print(f"revalidation of {out['processed']} events: {time.perf_counter() - t:.1f} s")
    retention.set_retention(created.id, 1)
    t = time.perf_counter()
    n = retention.delete_expired(created.id, 5000, now=now + timedelta(days=2))
    print(f"retention delete of {n} events: {time.perf_counter() - t:.1f} s")
