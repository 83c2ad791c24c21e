"""Every environment variable the product reads: one typed definition, grouped by process.

app/config.py, celery_config.py and gunicorn.conf.py read their settings from `load()`;
the start scripts read the few marked "(shell)". A bad value stops the process at start
with one line naming the variable and what it expects. `python settings.py docs` writes
the reference, docs/configuration.md (a test keeps the committed file equal to it);
`python settings.py check` loads the environment and says what is wrong. This module
imports nothing from app/ (celery_config imports it).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent
log = logging.getLogger("lvd.settings")


class Expects:
    """What a value must be, in words: shown in the reference and in the start-up error."""

    def __init__(self, text: str) -> None:
        self.text = text


def setting(
    default: Any,
    description: str,
    *,
    shown: str | None = None,
    tuning: bool = False,
    former: str | None = None,
    keep_empty: bool = False,
    secret: bool = False,
    expects: str | None = None,
) -> Any:
    """A setting's default and its entry in the reference.

    `shown`: the default as the reference states it (when it is derived at load time);
    `former`: the variable's old name, still read with a warning; `keep_empty`: an empty
    value means something (otherwise empty counts as unset).
    """
    extra = {"tuning": tuning, "keep_empty": keep_empty, "former": (former,) if former else ()}
    if shown is not None:
        extra["shown"] = shown
    if expects is not None:
        extra["expects"] = expects
    return Field(default, description=description, repr=not secret, json_schema_extra=extra)


# --- Value types: what each accepts, in words for the reference and the start-up error ---
def _byte_size(value: Any) -> Any:
    """1048576, 1MB, 512KB, 1MiB (units are powers of 1024) -> bytes."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*(?:([KMG])i?B?|B)?\s*", value, re.IGNORECASE)
    if not match:
        raise ValueError("not a size")
    number, unit = match.groups()
    return int(number) * 1024 ** " KMG".index((unit or " ").upper())


def _rate_limit(value: str) -> str:
    from limits import parse  # validates "30 per minute", "5000/second"

    try:
        parse(value)
    except ValueError:
        raise ValueError("not a rate limit") from None
    return value


def _url(*schemes: str):
    def check(value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme or (schemes and scheme not in schemes):
            raise ValueError("not a URL")
        return value

    return check


def _autoscale(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        low, high = (int(part) for part in value.split(","))
    except ValueError:
        raise ValueError('must be "min,max" processes, e.g. "2,8"') from None
    if not 0 <= low <= high or high == 0:
        raise ValueError('must be "min,max" with 0 <= min <= max and max >= 1')
    return low, high


def _names(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


Count = Annotated[int, Field(ge=1), Expects("an integer >= 1")]
NonNegative = Annotated[int, Field(ge=0), Expects("an integer >= 0")]
Seconds = Annotated[float, Field(ge=0), Expects("a number of seconds >= 0")]
Milliseconds = Annotated[float, Field(ge=0), Expects("a number of milliseconds >= 0")]
Flag = Annotated[bool, Expects("a boolean: 1/0, true/false, yes/no, on/off")]
Bytes = Annotated[
    int, BeforeValidator(_byte_size), Field(ge=0), Expects("a size in bytes: 1048576, 1MB, 512KB")
]
Port = Annotated[int, Field(ge=1, le=65535), Expects("a port number (1-65535)")]
Text = Annotated[str, Expects("text")]
Folder = Annotated[str, Expects("a folder path")]
RateLimit = Annotated[
    str, AfterValidator(_rate_limit), Expects('a rate limit: "30 per minute", "5000/second"')
]
AnyUrl = Annotated[str, AfterValidator(_url()), Expects("a URL (scheme://…)")]
WebUrl = Annotated[
    str,
    AfterValidator(_url("http", "https")),
    AfterValidator(lambda url: url.rstrip("/")),
    Expects("an http:// or https:// URL"),
]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(value: Any) -> Any:
    if isinstance(value, str) and value.strip().upper() in LOG_LEVELS:
        return value.strip().upper()
    raise ValueError("must be one of " + ", ".join(LOG_LEVELS))


LogLevel = Annotated[str, BeforeValidator(_log_level), Expects("one of " + ", ".join(LOG_LEVELS))]
Autoscale = Annotated[
    tuple[int, int], BeforeValidator(_autoscale), Expects('"min,max" processes, e.g. "2,8"')
]
PoolNames = Annotated[
    tuple[str, ...], BeforeValidator(_names), Expects("pool names, comma-separated")
]

EVERY_POOL_BUT_STORAGE = "emails,batch_processing,emails_priority"


# --- The settings, by the process that reads them -------------------------------------
class AllProcesses(BaseModel):
    """All processes (gunicorn, workers, beat, Flower, `flask` commands)."""

    DATABASE_URL: AnyUrl | None = setting(
        None,
        "the database; `postgresql://…`, `postgres://…` and `postgresql+psycopg2://…` are all "
        "accepted",
        shown="`sqlite:///$INSTANCE_PATH/lvd.sqlite3`",
    )
    CELERY_BROKER_URL: AnyUrl = setting(
        "filesystem://",
        "the broker: `redis://host:6379/0` in production; `amqp://…` (RabbitMQ) works too; "
        "`filesystem://` keeps messages under `$INSTANCE_PATH/broker` (standalone, one machine)",
    )
    BROKER_QUORUM_QUEUES: Flag = setting(
        False,
        "with an `amqp://` broker (RabbitMQ cluster): declare every queue as a quorum queue, so a "
        "202 waits for a majority of nodes (docs/scaling.md); other brokers ignore it",
    )
    CELERY_RESULT_BACKEND: AnyUrl | None = setting(
        None,
        "where task states are kept",
        shown="`file://$INSTANCE_PATH/celery-results` with the filesystem broker, "
        "else `redis://127.0.0.1:6379/1`",
    )
    REDIS_URL: AnyUrl | None = setting(
        None,
        "Redis for the ingest and account rate limits, e.g. `redis://host:6379/2`; unset: "
        "limits are counted per process",
    )
    SECRET_KEY: Text | None = setting(
        None,
        "signs sessions and keys the code's HMACs. **Set the same value on every machine**; "
        "unset, one is generated into `$INSTANCE_PATH/secret_key` (mode 0600), which suits one "
        "machine only",
        secret=True,
    )
    PUBLIC_URL: WebUrl = setting(
        "http://127.0.0.1:8000",
        "the address developers use; links in mails are built on it. `https://…` makes the "
        "session cookie `Secure` and `__Host-session`",
    )
    INSTANCE_PATH: Folder = setting(
        str(PROJECT_ROOT / "instance"),
        "local state: the standalone database, broker and results, the generated secret key",
        shown="`./instance`",
    )
    EXPORT_DIR: Folder | None = setting(
        None,
        "where export files are written: one folder shared by gunicorn and the "
        "`batch_processing` workers",
        shown="`$INSTANCE_PATH/exports`",
    )
    LOG_LEVEL: LogLevel = setting("INFO", "log level of the application's own log lines")
    LVD_PROFILE: Literal["standard", "metered"] = setting(
        "standard",
        "`metered`: for a hosted Redis that bills per command (docs/operations.md)",
        expects="standard or metered",
    )
    PRODUCTION: Flag = setting(
        False,
        "gunicorn and the workers refuse to start on a Redis broker without `appendonly` or "
        "with a `maxmemory-policy` other than `noeviction` (otherwise they log a warning)",
    )
    LVD_ALLOW_UNDURABLE_BROKER: Flag = setting(False, "lets them start anyway with `PRODUCTION=1`")
    PROMETHEUS_MULTIPROC_DIR: Folder | None = setting(
        None,
        "where processes write their Prometheus counters (read by prometheus_client too); "
        "gunicorn makes a new temporary one, `start_celery_worker.sh` one per pool under "
        "`WORKER_METRICS_DIR`; emptied at start",
    )


class Web(BaseModel):
    """Web (gunicorn)."""

    GUNICORN_BIND: Text = setting("0.0.0.0:8000", "gunicorn's address")
    WEB_CONCURRENCY: Count | None = setting(None, "gunicorn processes", shown="the number of cores")
    GUNICORN_ACCESS_LOG: Text = setting(
        "-", "gunicorn's access log: `-` stdout, empty: none", keep_empty=True
    )
    PROXY_FIX_X_FOR: NonNegative = setting(
        0,
        "trusted proxies in front of gunicorn; set it (e.g. `1` behind nginx) so that client "
        "IPs for rate limits and the HTTPS scheme come from `X-Forwarded-*`",
    )
    METRICS_TOKEN: Text | None = setting(
        None,
        "bearer token `/metrics` and `/health`'s details require",
        secret=True,
    )
    METRICS_ALLOW_LOOPBACK: Flag | None = setting(
        None,
        "let loopback clients read `/metrics` and `/health`'s details without the token; the "
        "start refuses it behind a proxy that makes every client loopback (`PROXY_FIX_X_FOR=0` "
        "with `FORWARDED_ALLOW_IPS` set or an https `PUBLIC_URL`)",
        shown="on with SQLite (standalone) unless a proxy is in front, else off",
    )
    FORWARDED_ALLOW_IPS: Text | None = setting(
        None,
        "gunicorn's own: proxy addresses it trusts for `X-Forwarded-*`; set, it tells the "
        "start check a proxy is in front",
    )
    TEST_API_MAX_WAITERS: Count = setting(
        4,
        "requests of one web process that may wait for an event at once (`?wait=`); each "
        "holds a gunicorn thread, so keep it below `GUNICORN_THREADS` (docs/testing-api.md)",
    )
    WEB_STATEMENT_TIMEOUT_MS: NonNegative = setting(
        5000,
        "longest a web request's SQL statement may run (PostgreSQL, gunicorn workers only); "
        "0: none",
    )
    DASHBOARD_FLOWER_URL: WebUrl | None = setting(
        None,
        "where `/system` links to Flower; unset: no link (standalone runs no Flower)",
        former="FLOWER_URL",
    )
    CELERY_ENABLED: Flag = setting(
        True, "false: inline mode, storage and mail run in the request, no worker needed"
    )
    SESSION_COOKIE_SECURE: Flag | None = setting(
        None,
        "force the `Secure` cookie (and the `__Host-` name) on or off",
        shown="on if `PUBLIC_URL` is `https://…`",
    )
    SESSION_IDLE_MINUTES: Count = setting(30, "a session ends after this long without a request")
    SESSION_MAX_HOURS: Count = setting(12, "a session ends this long after login")
    PASSWORD_RESET_MINUTES: Count = setting(30, "lifetime of a password reset link")
    ACCOUNT_LINK_HOURS: Count = setting(48, "lifetime of confirmation and password-set links")
    AUTH_RATE_LIMIT: RateLimit = setting(
        "30 per minute", "form posts per IP on the `/auth` and `/apps` pages"
    )
    OTP_REQUEST_LIMIT: RateLimit = setting(
        "3 per 15 minutes", "login codes mailed per account and per IP"
    )
    MAIL_REQUEST_LIMIT: RateLimit = setting(
        "3 per 15 minutes", "registration, confirmation and reset mails per address and per IP"
    )
    LOGIN_FAILURE_LIMIT: RateLimit = setting(
        "5 per 15 minutes",
        "login attempts per client and account together (a correct password clears them)",
    )
    LOGIN_FAILURE_LIMIT_ACCOUNT: RateLimit = setting(
        "50 per 15 minutes",
        "failed passwords per account from all clients; past it, only a client without "
        "failures of its own may still try",
    )
    LOGIN_FAILURE_LIMIT_IP: RateLimit = setting("50 per 15 minutes", "failed passwords per IP")
    INGEST_RATE_LIMIT: RateLimit = setting(
        "5000/second", "default per-app ingest limit; apps can override it"
    )
    MAX_EVENT_BYTES: Bytes = setting(32 * 1024, "largest single event")
    MAX_REQUEST_BYTES: Bytes = setting(1024 * 1024, "largest request body, after decompression")
    MAX_NESTING_DEPTH: Count = setting(32, "deepest JSON nesting of an event")
    MAX_BATCH_EVENTS: Count = setting(500, "most events per batch")
    # Tuning
    GUNICORN_WORKER_CLASS: Text = setting("gthread", "gunicorn's worker class", tuning=True)
    GUNICORN_THREADS: Count = setting(
        8,
        "threads per gunicorn process (concurrent requests of one process share a broker message)",
        tuning=True,
    )
    GUNICORN_MAX_REQUESTS: NonNegative = setting(
        200000, "recycle a gunicorn process after this many requests", tuning=True
    )
    GUNICORN_MAX_REQUESTS_JITTER: NonNegative = setting(
        20000, "plus a random part of this, so processes restart at staggered times", tuning=True
    )
    GUNICORN_TIMEOUT: Count = setting(
        30, "seconds a silent gunicorn process lives before it is killed", tuning=True
    )
    GUNICORN_GRACEFUL_TIMEOUT: Count = setting(
        30, "seconds gunicorn processes get to finish their requests at a stop", tuning=True
    )
    MALLOC_ARENA_MAX: Count = setting(
        2,
        "glibc malloc arenas per gunicorn process (set by `gunicorn.conf.py`); more cost "
        "memory with threads, not speed",
        tuning=True,
    )
    PUBLISH_LINGER_MS: Milliseconds = setting(
        2.0,
        "longest a publishing request waits for requests of its process still being "
        "validated, to share one broker message (`0`: never)",
        tuning=True,
    )
    REGISTRY_REFRESH_SECONDS: Seconds = setting(
        1.0, "how often each process checks for app, key and schema changes", tuning=True
    )
    POLL_TRUST_SECONDS: Seconds = setting(
        5.0,
        "how long a live page's poll trusts a session and a membership it checked, per "
        "process (`0`: every poll)",
        former="MEMBERSHIP_CACHE_SECONDS",
        tuning=True,
    )
    HEALTH_TIMEOUT_SECONDS: Seconds = setting(
        0.8, "longest `/health` waits for its checks, all together", tuning=True
    )
    ARGON2_TIME_COST: Count = setting(
        3, "Argon2id iterations (refused below 2); passwords rehash at next login", tuning=True
    )
    ARGON2_MEMORY_COST: Count = setting(
        65536, "Argon2id memory in KiB (refused below 19456)", tuning=True
    )
    ARGON2_PARALLELISM: Count = setting(4, "Argon2id lanes", tuning=True)
    METRICS_ENABLED: Flag = setting(
        True, "false: nothing is counted and `/metrics` answers 404", tuning=True
    )


class Workers(BaseModel):
    """Workers (start_celery_worker.sh)."""

    WORKER_DEFAULT_CONCURRENCY: Count = setting(8, "processes of the `default` (storage) pool")
    WORKER_EMAILS_CONCURRENCY: Count = setting(2, "processes of the `emails` pool")
    WORKER_BATCH_CONCURRENCY: Count = setting(1, "processes of the `batch_processing` pool")
    WORKER_EMAILS_PRIORITY_CONCURRENCY: Count = setting(
        1, "processes of the `emails_priority` pool (account mails)"
    )
    WORKER_DEFAULT_AUTOSCALE: Autoscale | None = setting(
        None,
        "`min,max` processes of the pool with `start_celery_worker.sh --autoscale`",
        shown="`1,<concurrency>`",
    )
    WORKER_EMAILS_AUTOSCALE: Autoscale | None = setting(
        None, "the same, `emails` pool", shown="`1,<concurrency>`"
    )
    WORKER_BATCH_AUTOSCALE: Autoscale | None = setting(
        None, "the same, `batch_processing` pool", shown="`1,<concurrency>`"
    )
    WORKER_EMAILS_PRIORITY_AUTOSCALE: Autoscale | None = setting(
        None, "the same, `emails_priority` pool", shown="`1,<concurrency>`"
    )
    MAIL_SERVER: Text | None = setting(
        None,
        "SMTP server; unset: mails are written as `.eml` files under `$INSTANCE_PATH/mail` "
        "and login codes are logged (the web sends mail itself in inline mode)",
    )
    MAIL_PORT: Port = setting(25, "SMTP port")
    MAIL_USE_TLS: Flag = setting(False, "STARTTLS")
    MAIL_USE_SSL: Flag = setting(False, "SMTP over TLS")
    MAIL_USERNAME: Text | None = setting(None, "SMTP user")
    MAIL_PASSWORD: Text | None = setting(None, "SMTP password", secret=True)
    MAIL_DEFAULT_SENDER: Text = setting(
        "Live Validation Dashboard <no-reply@localhost>", "the From of every mail"
    )
    WEBHOOK_ALLOW_PRIVATE: Flag = setting(
        False, "lets webhooks target loopback, private and link-local addresses"
    )
    WORKER_NODE_SUFFIX: Text = setting(
        "%h", "the part after `@` of each worker's node name (`default@<suffix>`)"
    )
    WORKER_LOG_LEVEL: LogLevel = setting(
        "INFO", "the workers' `--loglevel`", former="CELERY_LOGLEVEL"
    )
    WORKER_TASK_EVENTS: PoolNames = setting(
        EVERY_POOL_BUT_STORAGE,
        "pools started with `--task-events` (Flower's task views); not the storage pool by "
        "default; empty: none",
        shown=f"`{EVERY_POOL_BUT_STORAGE}` (metered profile: none)",
        keep_empty=True,
    )
    WORKER_METRICS_PORT: Port | None = setting(
        None, "base port of the pools' metrics (the pool's index is added); unset: none"
    )
    WORKER_METRICS_ADDR: Text = setting("127.0.0.1", "address of the pools' metrics")
    WORKER_METRICS_DIR: Folder | None = setting(
        None,
        "(shell) folder of the pools' counters, one sub-folder per pool",
        shown="`$TMPDIR/lvd-worker-metrics`",
    )
    CELERY_APP: Text = setting(
        "run.celery_app", "(shell) the Celery app the workers load (`celery -A`)"
    )
    PYTHON: Text | None = setting(
        None,
        "(shell) the interpreter `start_celery_worker.sh` and `start_flower.sh` run",
        shown="`.venv/bin/python`, else `python3`",
    )
    LVD_ALLOW_UNTESTED_LIBRARIES: Flag = setting(
        False, "lets workers start on celery/kombu versions other than the tested ones"
    )
    # Tuning
    WORKER_MAX_TASKS_PER_CHILD: Count = setting(
        10000, "recycle a pool process after this many tasks", tuning=True
    )
    WORKER_PREFETCH_MULTIPLIER: NonNegative = setting(
        1, "messages each pool process reserves ahead (all are acknowledged late)", tuning=True
    )
    CELERY_CONSUMER_TTL: Count | None = setting(
        None,
        "seconds a worker consumer's keep-alive key lives (refreshed every third of it); its "
        "unacknowledged messages are requeued at the first sweep after (Redis broker)",
        shown="`30` (metered: `3600`)",
        tuning=True,
    )
    CELERY_RESTORE_INTERVAL: Count | None = setting(
        None,
        "seconds between sweeps for consumers that are gone",
        shown="`10` (metered: `3600`)",
        tuning=True,
    )
    CELERY_VISIBILITY_TIMEOUT: Count = setting(
        3600,
        "age (Redis' clock) at which unacknowledged messages no consumer owns are requeued",
        tuning=True,
    )
    STORAGE_SOFT_TIME_LIMIT: Seconds = setting(300.0, "storage task soft limit", tuning=True)
    STORAGE_TIME_LIMIT: Seconds = setting(
        600.0, "storage task hard limit; the message is requeued", tuning=True
    )
    STORAGE_LOCK_TIMEOUT_MS: NonNegative = setting(
        30000, "PostgreSQL `lock_timeout` of the workers (`0`: off)", tuning=True
    )
    STORAGE_STATEMENT_TIMEOUT_MS: NonNegative | None = setting(
        None,
        "PostgreSQL `statement_timeout` of the workers (`0`: off)",
        shown="80 % of the soft limit (`240000`)",
        tuning=True,
    )
    STORAGE_RETRY_BACKOFF: Seconds = setting(
        2.0, "first storage retry delay, doubled on each retry (3 retries)", tuning=True
    )
    STORAGE_BATCH_MAX_BYTES: Bytes = setting(
        1024 * 1024,
        "storage messages wait until this many bytes of them wait (or `STORAGE_BATCH_WAIT_MS`) "
        "and are stored in one transaction (`0`: one message at a time)",
        tuning=True,
    )
    STORAGE_BATCH_WAIT_MS: Milliseconds = setting(
        50.0, "longest a storage message waits for others", tuning=True
    )
    MAIL_RETRY_BACKOFF: Seconds = setting(
        2.0, "first mail retry delay, doubled on each retry (3 retries)", tuning=True
    )
    WEBHOOK_TIMEOUT_SECONDS: Seconds = setting(5.0, "time limit of one webhook POST", tuning=True)
    WEBHOOK_MAX_ATTEMPTS: Count = setting(
        5, "tries of a webhook delivery before it is marked `failed`", tuning=True
    )
    WEBHOOK_RETRY_BACKOFF: Seconds = setting(
        10.0, "first webhook retry delay, doubled on each retry", tuning=True
    )
    JOB_CHUNK_ROWS: Count = setting(
        1000, "events per transaction of re-validations and exports", tuning=True
    )


class Beat(BaseModel):
    """Beat (`celery -A run.celery_app beat`)."""

    DIGEST_HOUR_UTC: Annotated[int, Field(ge=0, le=23), Expects("an hour, 0-23")] = setting(
        7, "hour (UTC) the daily digest of yesterday is sent, at minute 15"
    )


class Flower(BaseModel):
    """Flower (start_flower.sh; Flower reads every FLOWER_* variable as its option)."""

    FLOWER_BASIC_AUTH: Text | None = setting(
        None,
        "(shell) `user:password` (comma-separated for several); `start_flower.sh` refuses "
        "to start without it",
        secret=True,
    )
    FLOWER_ADDRESS: Text = setting("127.0.0.1", "(shell) Flower's address")
    FLOWER_PORT: Port = setting(5555, "(shell) Flower's port")
    FLOWER_ENABLE_EVENTS: Flag = setting(
        False, "(shell) Flower's periodic broadcast that turns task events on in every pool"
    )


class Standalone(BaseModel):
    """Standalone (`python run.py`)."""

    HOST: Text = setting("127.0.0.1", "the launcher's address")
    PORT: Port = setting(8000, "the launcher's port")


GROUPS = (AllProcesses, Web, Workers, Beat, Flower, Standalone)


class Settings(BaseSettings, Standalone, Flower, Beat, Workers, Web, AllProcesses):
    """Every setting, validated: see docs/configuration.md."""

    model_config = SettingsConfigDict(extra="ignore")

    @model_validator(mode="after")
    def _fill_derived_defaults(self) -> Settings:  # noqa: C901 - one default per setting
        metered = self.LVD_PROFILE == "metered"
        self.INSTANCE_PATH = str(Path(self.INSTANCE_PATH).resolve())
        instance = Path(self.INSTANCE_PATH)
        if self.CELERY_RESULT_BACKEND is None:
            filesystem = self.CELERY_BROKER_URL.startswith("filesystem")
            self.CELERY_RESULT_BACKEND = (
                f"file://{instance / 'celery-results'}"
                if filesystem
                else "redis://127.0.0.1:6379/1"
            )
        if self.DATABASE_URL is None:
            self.DATABASE_URL = f"sqlite:///{instance / 'lvd.sqlite3'}"
        if self.EXPORT_DIR is None:
            self.EXPORT_DIR = str(instance / "exports")
        if self.SESSION_COOKIE_SECURE is None:
            self.SESSION_COOKIE_SECURE = self.PUBLIC_URL.startswith("https://")
        if self.METRICS_ALLOW_LOOPBACK is None:  # never by default behind a proxy
            behind_proxy = bool(self.FORWARDED_ALLOW_IPS) or self.PUBLIC_URL.startswith("https")
            self.METRICS_ALLOW_LOOPBACK = self.DATABASE_URL.startswith("sqlite") and not (
                behind_proxy and not self.PROXY_FIX_X_FOR
            )
        if self.CELERY_CONSUMER_TTL is None:
            self.CELERY_CONSUMER_TTL = 3600 if metered else 30
        if self.CELERY_RESTORE_INTERVAL is None:
            self.CELERY_RESTORE_INTERVAL = 3600 if metered else 10
        if self.STORAGE_STATEMENT_TIMEOUT_MS is None:
            self.STORAGE_STATEMENT_TIMEOUT_MS = int(self.STORAGE_SOFT_TIME_LIMIT * 1000 * 0.8)
        if metered and "WORKER_TASK_EVENTS" not in self.model_fields_set:
            self.WORKER_TASK_EVENTS = ()
        if self.STORAGE_SOFT_TIME_LIMIT >= self.STORAGE_TIME_LIMIT:
            raise ValueError(
                "STORAGE_SOFT_TIME_LIMIT must be below STORAGE_TIME_LIMIT (got "
                f"{self.STORAGE_SOFT_TIME_LIMIT:g} and {self.STORAGE_TIME_LIMIT:g})"
            )
        return self


# --- Loading ---------------------------------------------------------------------------
class ConfigurationError(SystemExit):
    """A setting has a bad value: the process stops with one line that names it."""


_warned: set[str] = set()


def _warn_once(name: str, message: str) -> None:
    if name not in _warned:
        _warned.add(name)
        log.warning(message)


class EnvironSource(PydanticBaseSettingsSource):
    """Values from an environment mapping, by each setting's name or its former name.

    An empty value counts as unset, except for the settings where empty means something.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        extra = field.json_schema_extra or {}
        for name in (field_name, *extra.get("former", ())):
            value = self.environ.get(name)
            if value is None or (value == "" and not extra.get("keep_empty")):
                continue
            if name != field_name:
                _warn_once(name, f"{name} is deprecated: set {field_name} instead")
            return value, name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        for name, constant in CONSTANTS.items():
            if self.environ.get(name):
                _warn_once(name, f"{name} is no longer read: it is a constant ({constant})")
        values = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, _name, _complex = self.get_field_value(field, field_name)
            if value is not None:
                values[field_name] = value
        return values


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from `environ` (default: this process's environment).

    Raise ConfigurationError, which stops the process, on the first bad value.
    """
    environ = os.environ if environ is None else environ
    try:
        return Settings(_build_sources=((EnvironSource(Settings, environ),), {}))
    except ValidationError as invalid:
        raise ConfigurationError(
            "LVD configuration error: " + describe_error(invalid.errors()[0])
        ) from None


def describe_error(error: dict) -> str:
    """One line: the variable, what it expects, and the value it got."""
    reason = str(error.get("ctx", {}).get("error", "")) if error["type"] == "value_error" else ""
    if not error["loc"]:
        return reason
    name = str(error["loc"][0])
    field = Settings.model_fields[name]
    phrase = reason if reason.startswith("must") else f"must be {described(field)}"
    return f"{name} {phrase} (got {error['input']!r})"


# --- Former settings that are constants now, and variables only the tools read ----------
# Setting one of these logs that it is ignored; their values live where the note says.
CONSTANTS = {
    "CELERY_UNACKED_MUTEX_SECONDS": "20, `celery_config.UNACKED_MUTEX_SECONDS`",
    "METERED_RECEIVE_WAIT": "300, `celery_config.METERED_RECEIVE_WAIT`",
    "STORAGE_BATCH_MAX_HELD": "2000, `celery_config.STORAGE_BATCH_MAX_HELD`",
    "TASK_TRACK_STARTED": "off, `celery_config.task_track_started`",
    "PUBLISH_GROUP_MAX_EVENTS": "500, `app.config.Config`",
    "MAX_ERRORS_PER_EVENT": "50, `app.config.Config`",
    "RETRY_AFTER_SECONDS": "5, `app.config.Config`",
    "WORKER_STALE_SECONDS": "30, `app.config.Config`",
    "RETENTION_DELETE_BATCH": "5000, `app.config.Config`",
}

# Read by the test, benchmark and load-test tools, never by the product's processes.
TOOLS = {
    "TEST_DATABASE_URL": "tests: the PostgreSQL server (`postgresql://postgres:postgres@"
    "127.0.0.1:5432/lvd_test`); each run recreates the database it names",
    "TEST_REDIS_URL": "tests: the Redis server (`redis://127.0.0.1:6379`)",
    "PGHOST_CHECK": "`scripts/services.sh`: where to find or start PostgreSQL (`127.0.0.1`)",
    "PGPORT_CHECK": "`scripts/services.sh`: its port (`5432`)",
    "REDIS_HOST_CHECK": "`scripts/services.sh`: where to find or start Redis (`127.0.0.1`)",
    "REDIS_PORT_CHECK": "`scripts/services.sh`: its port (`6379`)",
    "BENCH_DATABASE_URL": "benchmark: its PostgreSQL server",
    "BENCH_REDIS_URL": "benchmark: its Redis server",
    "BENCH_PYTHON": "`bench/compare.py`: the interpreter of each side",
    "BENCH_VIEWERS": "benchmark: dashboard viewers (`20`)",
    "LVD_APP_ID": "`test_load.py` (locust): the app to post to; unset: one is created",
    "LVD_INGEST_KEY": "`test_load.py`: that app's ingest key",
    "LVD_SESSION_COOKIE": "`test_load.py`: a logged-in `session` cookie for the dashboard readers",
    "CLUSTER_DIR": "`scripts/cluster.sh`: its state folder (`/var/tmp/lvd-cluster`)",
    "CLUSTER_APP_HOSTS": "`scripts/cluster.sh up`: how many app hosts (`2`)",
    "CLUSTER_LB_CPU": "`scripts/cluster.sh`: the load balancer's CPU quota, % of a core (`50`)",
    "CLUSTER_APP_CPU": "`scripts/cluster.sh`: each app host's CPU quota, % of a core (`50`)",
    "CLUSTER_RABBIT_CPU": "`scripts/cluster.sh`: each RabbitMQ host's CPU quota (`50`)",
    "CLUSTER_DB_CPU": "`scripts/cluster.sh`: the database host's CPU quota (`100`)",
    "CLUSTER_WEB_CONCURRENCY": "`scripts/cluster.sh`: gunicorn workers per app host (`2`)",
    "CLUSTER_WORKER_CONCURRENCY": "`scripts/cluster.sh`: `default` processes per app host (`2`)",
    "CLUSTER_SH": "`bench/cluster.py`: the cluster script it drives (`scripts/cluster.sh`)",
}


def former_names() -> dict[str, str]:
    """Old variable name -> the setting that reads it now."""
    return {
        old: name
        for name, field in Settings.model_fields.items()
        for old in (field.json_schema_extra or {}).get("former", ())
    }


def documented_variables() -> set[str]:
    """Every variable the reference names: settings, former names, constants, tools."""
    return {*Settings.model_fields, *former_names(), *CONSTANTS, *TOOLS}


def described(field: FieldInfo) -> str:
    """What a setting's value must be, in words."""
    extra = field.json_schema_extra or {}
    if "expects" in extra:
        return extra["expects"]
    for marker in _markers(field.metadata, field.annotation):
        if isinstance(marker, Expects):
            return marker.text
    return "text"


def _markers(metadata: list, annotation: Any) -> list:
    found = list(metadata)
    found.extend(getattr(annotation, "__metadata__", ()))
    for member in getattr(annotation, "__args__", ()):
        found.extend(getattr(member, "__metadata__", ()))
    return found


def _shown(field: FieldInfo) -> str:
    extra = field.json_schema_extra or {}
    if "shown" in extra:
        return extra["shown"]
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if value == "":
        return "empty"
    return f"`{value}`"


def _table(fields: list[tuple[str, FieldInfo]]) -> list[str]:
    rows = ["| variable | value | default | meaning |", "|---|---|---|---|"]
    for name, field in fields:
        former = (field.json_schema_extra or {}).get("former", ())
        note = f" (formerly `{former[0]}`, still read)" if former else ""
        rows.append(
            f"| `{name}` | {described(field)} | {_shown(field)} | {field.description}{note} |"
        )
    return rows


INTRODUCTION = """\
# Configuration

Every process reads its settings from the environment when it starts, from one typed
definition (`settings.py`). A bad value stops the process at once with one line that names
the variable, e.g. `LVD configuration error: WORKER_DEFAULT_CONCURRENCY must be an integer
>= 1 (got 'abc')`; `python settings.py check` checks an environment without starting
anything. An empty value counts as unset unless the table says what empty means. The
defaults run standalone; [`.env.example`](../.env.example) lists the few settings a
deployment sets. Settings marked *(shell)* are read by the start scripts.

This page is generated by `python settings.py docs > docs/configuration.md`; a test keeps it
equal to the definition, and another fails when the code reads a variable it does not list.
"""


def reference() -> str:
    """docs/configuration.md, written from the definition above."""
    lines = [INTRODUCTION]
    tuning: list[tuple[type[BaseModel], list]] = []
    for group in GROUPS:
        fields = list(group.model_fields.items())
        lines += [
            f"## {group.__doc__.rstrip('.')}",
            "",
            *_table([(n, f) for n, f in fields if not f.json_schema_extra["tuning"]]),
            "",
        ]
        tuned = [(n, f) for n, f in fields if f.json_schema_extra["tuning"]]
        if tuned:
            tuning.append((group, tuned))
    lines += [
        "## Tuning",
        "",
        "The defaults were measured (docs/performance.md); change them with a benchmark at hand.",
        "",
    ]
    for group, tuned in tuning:
        lines += [f"### {group.__doc__.rstrip('.')}", "", *_table(tuned), ""]
    lines += [
        "## Former names",
        "",
        "Still read, with a warning at start naming the new one.",
        "",
        "| former name | now |",
        "|---|---|",
    ]
    lines += [f"| `{old}` | `{new}` |" for old, new in former_names().items()]
    lines += [
        "",
        "## Constants",
        "",
        "Former settings no operator needs to change; setting one logs that it is ignored.",
        "",
        "| variable | value, where |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {where} |" for name, where in CONSTANTS.items()]
    lines += [
        "",
        "## Tests, benchmark and load test",
        "",
        "Read by the tools, never by the product.",
        "",
        "| variable | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in TOOLS.items()]
    return "\n".join(lines) + "\n"


def _main(argv: list[str]) -> None:
    if argv == ["docs"]:
        sys.stdout.write(reference())
        return
    if argv == ["check"]:
        load()
        print("configuration ok")
        return
    sys.exit("usage: python settings.py docs | check")


if __name__ == "__main__":
    _main(sys.argv[1:])
