"""The Flask app's settings: settings.py's values plus the Flask keys derived from them."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import settings  # the typed definition of every variable (top level: celery_config reads it)

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


class Config:
    """Every setting, read once when the app is built: app.config[NAME] holds each variable
    of settings.py by its name, plus the Flask keys derived from them and a few constants."""

    # Former settings no operator changes (settings.CONSTANTS warns when one is still set).
    PUBLISH_GROUP_MAX_EVENTS = 500  # events one shared broker message carries
    MAX_ERRORS_PER_EVENT = 50  # validation errors reported and stored per event
    RETRY_AFTER_SECONDS = 5  # Retry-After on 503
    WORKER_STALE_SECONDS = 30  # a heartbeat older than this is not listed (sent every 10 s)
    RETENTION_DELETE_BATCH = 5000  # rows deleted per retention transaction
    JSON_SORT_KEYS = False
    # The cookie is rewritten when the session changes (its idle clock moves at most
    # once a minute, app/auth/sessions/login.py), not on every poll of an open page.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        values = settings.load(environ)
        for name, value in values.model_dump().items():
            setattr(self, name, value)
        instance = Path(values.INSTANCE_PATH)
        self.SECRET_KEY = values.SECRET_KEY or persistent_secret_key(instance)
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(values.DATABASE_URL)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.RATELIMIT_STORAGE_URI = values.REDIS_URL or "memory://"
        self.MAX_CONTENT_LENGTH = values.MAX_REQUEST_BYTES
        self.PERMANENT_SESSION_LIFETIME = timedelta(minutes=values.SESSION_IDLE_MINUTES)
        # The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/, no Domain.
        self.SESSION_COOKIE_NAME = "__Host-session" if values.SESSION_COOKIE_SECURE else "session"
        check_operator_access(values)


class ConfigError(settings.ConfigurationError):
    """A combination of settings the app refuses to start with."""


def check_operator_access(values: settings.Settings) -> None:
    """Refuse loopback access to /metrics behind a proxy that makes every client loopback.

    A proxy is taken to be in front when FORWARDED_ALLOW_IPS is set (gunicorn's trust of
    one) or PUBLIC_URL is https:// (TLS ended by a proxy); with PROXY_FIX_X_FOR=0 every
    client then has the proxy's address.
    """
    if values.METRICS_TOKEN or not values.METRICS_ALLOW_LOOPBACK or values.PROXY_FIX_X_FOR:
        return
    if values.FORWARDED_ALLOW_IPS or values.PUBLIC_URL.startswith("https://"):
        raise ConfigError(
            "LVD configuration error: METRICS_ALLOW_LOOPBACK=1 with PROXY_FIX_X_FOR=0 behind a "
            "proxy (FORWARDED_ALLOW_IPS set or PUBLIC_URL https://) would let every client "
            "read /metrics: set METRICS_TOKEN, or PROXY_FIX_X_FOR to the number of proxies"
        )


def engine_options(database_url: str) -> dict:
    """Return engine options that keep a dead database from hanging a request."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 3},
    }
