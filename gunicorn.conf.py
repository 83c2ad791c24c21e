"""Production defaults for `gunicorn run:app` (read automatically from the working folder).

Command-line flags and GUNICORN_CMD_ARGS override these; WEB_CONCURRENCY sets workers.
"""

import ctypes
import ctypes.util
import glob
import os
import re
import tempfile

from gunicorn.glogging import Logger

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
# Threads let concurrent requests of one process share a broker message
# (app/ingest/group_commit.py).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", 8))
# Recycle workers now and then, at staggered times, so slow leaks never accumulate.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 200000))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", 20000))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # empty: no access log

# Emailed links carry single-use tokens in their path (/auth/reset/<token>,
# /auth/confirm/<token>); the access log writes "[token]" in their place.
_TOKEN_IN_PATH = re.compile(r"(/auth/(?:reset|confirm)/)(?!new(?:[?#\s]|$))[^/?#\s]+")


class TokenRedactingLogger(Logger):
    """gunicorn's logger, with account-link tokens cut out of every logged URL."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U", "f", "{referer}i"):
            if isinstance(atoms.get(name), str):
                atoms[name] = _TOKEN_IN_PATH.sub(r"\1[token]", atoms[name])
        return atoms


logger_class = TokenRedactingLogger


def _limit_malloc_arenas(arenas: int) -> None:
    """Cap glibc's malloc arenas (set here in the master, inherited by every worker).

    glibc gives threads their own arenas, up to 8 per core; with 8 threads a worker's
    peak RSS measured 140 MB against 115 MB with 2 arenas, at the same throughput.
    """
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return
    libc = ctypes.CDLL(libc_name)
    mallopt = getattr(libc, "mallopt", None)  # glibc only
    if mallopt is not None:
        mallopt(-8, arenas)  # M_ARENA_MAX


_limit_malloc_arenas(int(os.environ.get("MALLOC_ARENA_MAX", 2)))


# Prometheus counters of every worker process go to memory-mapped files in one folder, so
# that /metrics (app/ops/metrics.py) can sum them whichever worker answers. Set before the
# workers import prometheus_client; stale files of an earlier run are removed at start.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lvd-gunicorn-metrics-")


def on_starting(server) -> None:
    """Check that the broker keeps accepted events (app/ops/durability.py), and clear the
    metrics files of an earlier run, before serving."""
    from app.ops.durability import UndurableBroker, check_broker_at_start
    from celery_config import broker_url

    try:
        check_broker_at_start(broker_url, "web")
    except UndurableBroker as refused:
        raise SystemExit(str(refused)) from None
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):
        os.remove(stale)


def post_worker_init(worker) -> None:
    """Bound every SQL statement of this web worker (WEB_STATEMENT_TIMEOUT_MS): a slow
    search or a lock wait ends with an error instead of holding a thread and a connection.

    Set here, not in the engine options every process shares, so Celery workers keep their
    own limits (app/worker/database_limits.py) and `flask db upgrade` none.
    """
    from sqlalchemy import event

    from app.extensions import db

    app = worker.wsgi
    timeout_ms = int(app.config.get("WEB_STATEMENT_TIMEOUT_MS", 0))
    with app.app_context():
        engine = db.engine
    if timeout_ms <= 0 or engine.dialect.name != "postgresql":
        return
    engine.dispose(close=False)  # connections opened while loading start over

    @event.listens_for(engine, "connect")
    def _statement_timeout(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, false)", (f"{timeout_ms}ms",)
            )
        dbapi_connection.commit()  # psycopg2 opened a transaction for the SELECT


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
