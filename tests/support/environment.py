"""The test session's settings, one set per pytest-xdist worker.

Each worker (PYTEST_XDIST_WORKER gw0, gw1, ...) has a PostgreSQL database of its own
(`<TEST_DATABASE_URL's name>_gw0`, ...) and three Redis databases of its own (gw0: 1-3,
gw1: 4-6, gw2: 7-9, gw3: 10-12; 10-12 without xdist), so workers never see each other's
rows, queues or rate limits. Processes the tests start inherit these through the
environment `tests/conftest.py` sets.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

# "gw3" -> 3; None without xdist (or in the xdist controller, which runs no test).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
WORKER_INDEX = int(XDIST_WORKER.removeprefix("gw")) if XDIST_WORKER else None
MAX_WORKERS = 4  # Redis has 16 databases: 0 is left alone, three for each worker

if WORKER_INDEX is not None and WORKER_INDEX >= MAX_WORKERS:
    raise RuntimeError(f"at most {MAX_WORKERS} xdist workers (Redis databases 1-12): -n")

_BASE_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/lvd_test"
)
TEST_DATABASE_URL = _BASE_DATABASE_URL
if XDIST_WORKER:
    _base = make_url(_BASE_DATABASE_URL)
    _worker_url = _base.set(database=f"{_base.database}_{XDIST_WORKER}")
    TEST_DATABASE_URL = _worker_url.render_as_string(hide_password=False)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")

_FIRST_DB = 1 + 3 * (WORKER_INDEX if WORKER_INDEX is not None else MAX_WORKERS - 1)
BROKER_DB, RESULTS_DB, LIMITS_DB = _FIRST_DB, _FIRST_DB + 1, _FIRST_DB + 2
