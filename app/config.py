"""Settings read from the environment, with defaults that run standalone."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from celery_config import instance_path  # one rule for the folder of standalone state

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def normalize_database_url(url: str) -> str:
    """Accept the URL forms users paste and return one SQLAlchemy understands."""
    if url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def persistent_secret_key(instance: Path) -> str:
    """Return instance/secret_key, creating it (mode 0600) with a random key on first use."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        draft = instance / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            os.link(draft, path)  # atomic: concurrent first starts all end up with one key
            logging.getLogger(__name__).info("generated a SECRET_KEY in %s", path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Every setting, read once when the app is built. Documented in the README."""

    def __init__(self) -> None:
        instance = instance_path()
        self.INSTANCE_PATH = str(instance)
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or persistent_secret_key(instance)
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(
            os.environ.get("DATABASE_URL", f"sqlite:///{instance / 'lvd.sqlite3'}")
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.INGEST_RATE_LIMIT = os.environ.get("INGEST_RATE_LIMIT", "5000/second")
        self.MAX_EVENT_BYTES = _env_int("MAX_EVENT_BYTES", 32 * 1024)
        self.MAX_REQUEST_BYTES = _env_int("MAX_REQUEST_BYTES", 1024 * 1024)
        self.MAX_CONTENT_LENGTH = self.MAX_REQUEST_BYTES
        self.MAX_NESTING_DEPTH = _env_int("MAX_NESTING_DEPTH", 32)
        self.MAX_BATCH_EVENTS = _env_int("MAX_BATCH_EVENTS", 500)
        self.PUBLISH_GROUP_MAX_EVENTS = _env_int("PUBLISH_GROUP_MAX_EVENTS", 500)
        self.PUBLISH_LINGER_MS = _env_float("PUBLISH_LINGER_MS", 2.0)
        self.MAX_ERRORS_PER_EVENT = _env_int("MAX_ERRORS_PER_EVENT", 50)
        self.REGISTRY_REFRESH_SECONDS = _env_float("REGISTRY_REFRESH_SECONDS", 1.0)
        self.RETRY_AFTER_SECONDS = _env_int("RETRY_AFTER_SECONDS", 5)
        self.WORKER_STALE_SECONDS = _env_int("WORKER_STALE_SECONDS", 30)
        # Dashboard: where the system page links to Flower.
        self.FLOWER_URL = os.environ.get("FLOWER_URL", "http://127.0.0.1:5555")
        self.HEALTH_TIMEOUT_SECONDS = _env_float("HEALTH_TIMEOUT_SECONDS", 0.8)
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
        self.MAIL_PORT = _env_int("MAIL_PORT", 25)
        self.MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = os.environ.get(
            "MAIL_DEFAULT_SENDER", "Live Validation Dashboard <no-reply@localhost>"
        )
        self.MAIL_RETRY_BACKOFF = _env_float("MAIL_RETRY_BACKOFF", 2.0)
        self.JSON_SORT_KEYS = False
        # /metrics: Bearer token; unset means loopback clients only (app/ops/metrics.py).
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
        # false: nothing counted, /metrics answers 404 (the benchmark's "without metrics").
        self.METRICS_ENABLED = _env_bool("METRICS_ENABLED", True)
        # false: storage and mail run in the request, no worker needed (app/celery_client.py).
        self.CELERY_ENABLED = _env_bool("CELERY_ENABLED", True)
        # Test API: requests of one web process that may wait for an event at once; each
        # holds a gunicorn thread, so keep it below GUNICORN_THREADS (docs/testing-api.md).
        self.TEST_API_MAX_WAITERS = _env_int("TEST_API_MAX_WAITERS", 4)
        self._accounts()
        self._background_work()

    def _accounts(self) -> None:
        """Settings of developer accounts: links, sessions, cookies and auth rate limits."""
        self.PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
        self.PROXY_FIX_X_FOR = _env_int("PROXY_FIX_X_FOR", 0)
        self.SESSION_IDLE_MINUTES = _env_int("SESSION_IDLE_MINUTES", 30)
        self.SESSION_MAX_HOURS = _env_int("SESSION_MAX_HOURS", 12)
        self.PERMANENT_SESSION_LIFETIME = timedelta(minutes=self.SESSION_IDLE_MINUTES)
        # The cookie is rewritten when the session changes (its idle clock moves at most
        # once a minute, app/auth/sessions/login.py), not on every poll of an open page.
        self.SESSION_REFRESH_EACH_REQUEST = False
        # How long a live page's poll trusts a session and a membership it has checked
        # (0: every poll). MEMBERSHIP_CACHE_SECONDS is its former name.
        self.POLL_TRUST_SECONDS = _env_float(
            "POLL_TRUST_SECONDS", _env_float("MEMBERSHIP_CACHE_SECONDS", 5.0)
        )
        self.SESSION_COOKIE_SECURE = _env_bool(
            "SESSION_COOKIE_SECURE", self.PUBLIC_URL.startswith("https://")
        )
        # The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/, no Domain.
        self.SESSION_COOKIE_NAME = "__Host-session" if self.SESSION_COOKIE_SECURE else "session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.PASSWORD_RESET_MINUTES = _env_int("PASSWORD_RESET_MINUTES", 30)
        self.ACCOUNT_LINK_HOURS = _env_int("ACCOUNT_LINK_HOURS", 48)
        self.ARGON2_TIME_COST = _env_int("ARGON2_TIME_COST", 3)
        self.ARGON2_MEMORY_COST = _env_int("ARGON2_MEMORY_COST", 65536)
        self.ARGON2_PARALLELISM = _env_int("ARGON2_PARALLELISM", 4)
        self.AUTH_RATE_LIMIT = os.environ.get("AUTH_RATE_LIMIT", "30 per minute")
        self.OTP_REQUEST_LIMIT = os.environ.get("OTP_REQUEST_LIMIT", "3 per 15 minutes")
        self.MAIL_REQUEST_LIMIT = os.environ.get("MAIL_REQUEST_LIMIT", "3 per 15 minutes")
        self.LOGIN_FAILURE_LIMIT = os.environ.get("LOGIN_FAILURE_LIMIT", "5 per 15 minutes")

    def _background_work(self) -> None:
        """Settings of alerts, webhooks, digests and retention (the batch_processing pool)."""
        # Loopback, private and link-local webhook targets are refused unless this is set.
        self.WEBHOOK_ALLOW_PRIVATE = _env_bool("WEBHOOK_ALLOW_PRIVATE", False)
        self.WEBHOOK_TIMEOUT_SECONDS = _env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
        self.WEBHOOK_MAX_ATTEMPTS = _env_int("WEBHOOK_MAX_ATTEMPTS", 5)
        self.WEBHOOK_RETRY_BACKOFF = _env_float("WEBHOOK_RETRY_BACKOFF", 10.0)
        self.RETENTION_DELETE_BATCH = _env_int("RETENTION_DELETE_BATCH", 5000)
        # Shared by the web processes and the batch_processing workers.
        self.EXPORT_DIR = os.environ.get("EXPORT_DIR") or str(Path(self.INSTANCE_PATH) / "exports")
        self.JOB_CHUNK_ROWS = _env_int("JOB_CHUNK_ROWS", 1000)
        self.LOGIN_FAILURE_LIMIT_IP = os.environ.get("LOGIN_FAILURE_LIMIT_IP", "50 per 15 minutes")


def engine_options(database_url: str) -> dict:
    """Return engine options that keep a dead database from hanging a request."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 3},
    }
