"""Production defaults for `gunicorn run:app` (read automatically from the working folder).

Values come from settings.py (a bad one stops gunicorn before it serves); command-line
flags and GUNICORN_CMD_ARGS override them.
"""

import ctypes
import ctypes.util
import glob
import os
import re
import tempfile

from gunicorn.glogging import Logger

import settings

_settings = settings.load()
bind = _settings.GUNICORN_BIND
workers = _settings.WEB_CONCURRENCY or os.cpu_count() or 1
# Threads let concurrent requests of one process share a broker message
# (app/ingest/group_commit.py).
worker_class = _settings.GUNICORN_WORKER_CLASS
threads = _settings.GUNICORN_THREADS
# Recycle workers now and then, at staggered times, so slow leaks never accumulate.
max_requests = _settings.GUNICORN_MAX_REQUESTS
max_requests_jitter = _settings.GUNICORN_MAX_REQUESTS_JITTER
graceful_timeout = _settings.GUNICORN_GRACEFUL_TIMEOUT
timeout = _settings.GUNICORN_TIMEOUT
keepalive = 5
accesslog = _settings.GUNICORN_ACCESS_LOG or None  # empty: no access log
# Gunicorn's default format without %(u)s: the Basic-auth user name is an ingest key when
# Segment's SDKs send it ("<writeKey>:"), and no key may reach a log.
access_log_format = '%(h)s %(l)s - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'

# Secrets that travel in paths never reach the log: Segment's mobile SDKs put the write
# key in GET /v1/projects/<writeKey>/settings, and emailed links carry single-use tokens
# (/auth/reset/<token>, /auth/confirm/<token>).
_KEY_IN_PATH = re.compile(r"(/v1/projects/)[^/?\s]+")
_TOKEN_IN_PATH = re.compile(r"(/auth/(?:reset|confirm)/)(?!new(?:[?#\s]|$))[^/?#\s]+")


class RedactingLogger(Logger):
    """Gunicorn's logger, with no Basic-auth user name (an ingest key), write key or
    account-link token in any logged field."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["u"] = "-"
        for name in ("r", "U", "f", "{referer}i"):
            if isinstance(atoms.get(name), str):
                text = _KEY_IN_PATH.sub(r"\1-", atoms[name])
                atoms[name] = _TOKEN_IN_PATH.sub(r"\1[token]", text)
        return atoms


logger_class = RedactingLogger


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


_limit_malloc_arenas(_settings.MALLOC_ARENA_MAX)


# Prometheus counters of every worker process go to memory-mapped files in one folder, so
# that /metrics (app/ops/metrics.py) can sum them whichever worker answers. Set before the
# workers import prometheus_client (which reads the variable itself); stale files of an
# earlier run are removed at start.
if not _settings.PROMETHEUS_MULTIPROC_DIR:
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
