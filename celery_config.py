"""Celery settings and the queue topology, written once.

Task names and queues are written here and nowhere else: the web tier submits tasks by
these names and never imports the worker code that defines them. `start_celery_worker.sh`,
the standalone launcher, Flower and the tests read the pools and the worker command from
here (`python celery_config.py pools`, `python celery_config.py worker-args POOL`).
Its settings come from `settings.py` (a bad value stops the import with one line naming
the variable). This module imports nothing from `app/`, and importing it creates nothing on
disk: the processes that use the standalone broker call `create_folders()` at start.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from celery.schedules import crontab
from kombu import Exchange, Queue

import settings

SETTINGS = settings.load()


def _settings_of(env: Mapping[str, str] | None) -> settings.Settings:
    return SETTINGS if env is None else settings.load(env)


# --- Queue topology ---------------------------------------------------------------
# Storage (the `default` queue) stores events; aggregation (the queue users know as
# `batch_processing`) summarizes them.
STORAGE_QUEUE = "default"
EMAIL_QUEUE = "emails"
AGGREGATION_QUEUE = "batch_processing"
# Account mails (one-time codes, resets, confirmations) on a queue and pool of their own,
# so they never wait behind bulk mail (README, "Email"); bulk mail stays on EMAIL_QUEUE.
EMAIL_PRIORITY_QUEUE = "emails_priority"
DEAD_LETTER_QUEUE = "dead_letter"  # no pool consumes it; `flask events replay-failed` does

# pool name -> (queue, default concurrency, the setting that overrides it)
WORKER_POOLS = {
    STORAGE_QUEUE: (STORAGE_QUEUE, 8, "WORKER_DEFAULT_CONCURRENCY"),
    EMAIL_QUEUE: (EMAIL_QUEUE, 2, "WORKER_EMAILS_CONCURRENCY"),
    AGGREGATION_QUEUE: (AGGREGATION_QUEUE, 1, "WORKER_BATCH_CONCURRENCY"),
    EMAIL_PRIORITY_QUEUE: (EMAIL_PRIORITY_QUEUE, 1, "WORKER_EMAILS_PRIORITY_CONCURRENCY"),
}

# Task names (users and queued messages know them; never rename one).
STORE_EVENT_TASK = "process_event_async"
STORE_BATCH_TASK = "process_event_batch"
SEND_EMAIL_TASK = "send_email_async"
SUMMARIZE_APP_TASK = "batch_process_events"
SUMMARIZE_ALL_TASK = "aggregate_all_apps"
# Background work (rollups, alerts, digests, retention): app/worker/tasks/aggregation.py.
ROLLUP_RECENT_TASK = "rollup_recent_apps"
DIGEST_TASK = "send_daily_digests"
MAINTENANCE_TASK = "maintain_storage"
REVALIDATE_TASK = "revalidate_events"
EXPORT_TASK = "export_events"
# Webhook POSTs wait on other people's servers: they go to the emails pool, whose
# processes already wait on SMTP, never to the single batch_processing process.
WEBHOOK_TASK = "deliver_webhook"

STORAGE_TASKS = (STORE_EVENT_TASK, STORE_BATCH_TASK)
EMAIL_TASKS = (SEND_EMAIL_TASK, WEBHOOK_TASK)
AGGREGATION_TASKS = (
    SUMMARIZE_APP_TASK,
    SUMMARIZE_ALL_TASK,
    ROLLUP_RECENT_TASK,
    DIGEST_TASK,
    MAINTENANCE_TASK,
    REVALIDATE_TASK,
    EXPORT_TASK,
)

# --- Quorum queues (RabbitMQ) ----------------------------------------------------------
# BROKER_QUORUM_QUEUES=1 with an amqp:// broker (several URLs joined by ";" for failover):
# every queue is a quorum queue, so a message is on a majority of the cluster's nodes
# before the broker confirms it, and a node lost loses nothing (docs/scaling.md). Other
# brokers ignore the setting; the default stays classic queues.
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def quorum_queues_for(url: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether queues are declared as quorum queues for this broker URL."""
    asked = _settings_of(env).BROKER_QUORUM_QUEUES
    return asked and urlparse(url).scheme in AMQP_SCHEMES


QUORUM_QUEUES = quorum_queues_for(SETTINGS.CELERY_BROKER_URL)
QUEUE_ARGUMENTS = {"x-queue-type": "quorum"} if QUORUM_QUEUES else {}

task_queues = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name, queue_arguments=QUEUE_ARGUMENTS)
    for name in (STORAGE_QUEUE, EMAIL_QUEUE, AGGREGATION_QUEUE, EMAIL_PRIORITY_QUEUE)
)
task_default_queue = STORAGE_QUEUE
if QUORUM_QUEUES:
    task_default_queue_type = "quorum"  # queues Celery creates on demand, too
    worker_detect_quorum_queues = True  # per-consumer prefetch: quorum queues have no global QoS
task_routes = {
    **{name: {"queue": STORAGE_QUEUE} for name in STORAGE_TASKS},
    **{name: {"queue": EMAIL_QUEUE} for name in EMAIL_TASKS},
    **{name: {"queue": AGGREGATION_QUEUE} for name in AGGREGATION_TASKS},
}


# --- Profile ------------------------------------------------------------------------
# LVD_PROFILE=metered: for a hosted Redis that bills per command (README, "Metered Redis").
# Idle workers then send almost no commands: no heartbeat events, gossip, mingle or
# remote control, receives that block for METERED_RECEIVE_WAIT seconds instead of one,
# consumer keep-alives refreshed every 20 minutes, sweeps hourly, and no results nobody
# reads. A warm shutdown does not wait for the pending receive: the workers' transport
# drops its connection (app/worker/transport/kombu_redis.py).
METERED = SETTINGS.LVD_PROFILE == "metered"
METERED_RECEIVE_WAIT = 300


# --- Broker and results -------------------------------------------------------------
# Unset URLs mean standalone: kombu's filesystem transport and file results, no server.
_instance = Path(SETTINGS.INSTANCE_PATH)
broker_url = SETTINGS.CELERY_BROKER_URL
result_backend = SETTINGS.CELERY_RESULT_BACKEND

# A consumer's unacknowledged messages go back to the queue when the consumer is gone:
# its keep-alive key (TTL CELERY_CONSUMER_TTL, refreshed every third of it, judged by
# Redis) has expired at a restore sweep. A killed worker's messages are therefore back
# within CONSUMER_TTL + RESTORE_INTERVAL; a live worker's are never redelivered, however
# long its task runs (app/worker/transport/redis_ownership.py).
CONSUMER_TTL = SETTINGS.CELERY_CONSUMER_TTL
# How often each worker sweeps for consumers that are gone (kombu's default is ~100 s).
RESTORE_INTERVAL = SETTINGS.CELERY_RESTORE_INTERVAL
# Only for unacknowledged messages no consumer owns (recorded by a version of the
# transport before ownership): restored once this old by Redis' clock.
VISIBILITY_TIMEOUT = SETTINGS.CELERY_VISIBILITY_TIMEOUT
# Longest a sweep holds the restore mutex (kombu: 300 s). Requeueing is a WATCH
# transaction per message, so two sweeps overlapping after it expires are harmless.
UNACKED_MUTEX_SECONDS = 20


def worker_transport_for(url: str) -> str | None:
    """The transport a worker consumes with: ours (app/worker/transport/kombu_redis.py) for redis://
    brokers, None (the URL's own) otherwise. The web tier only publishes and keeps kombu's."""
    scheme = urlparse(url).scheme
    return "app.worker.transport.kombu_redis:Transport" if scheme in ("redis", "rediss") else None


def _transport_options(url: str) -> dict:
    scheme = urlparse(url).scheme
    if scheme.startswith("redis") or scheme == "rediss":
        return {
            # One list per queue: a consumer can then move each message atomically.
            "priority_steps": [0],
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "consumer_ttl": CONSUMER_TTL,
            "unacked_restore_interval": RESTORE_INTERVAL,
            "unacked_restore_throttle": 1,
            # A worker killed mid-sweep leaves kombu's restore mutex behind; with kombu's
            # 300 s expiry no sweep would run for 5 minutes after such a crash.
            "unacked_mutex_expire": UNACKED_MUTEX_SECONDS,
            "socket_connect_timeout": 2,
            # Metered: a receive blocks this long when nothing comes (kombu's BRPOP
            # timeout, default 1 s); a message that arrives ends the wait at once.
            **({"polling_interval": METERED_RECEIVE_WAIT} if METERED else {}),
        }
    if scheme == "filesystem":
        folder = _instance / "broker"
        return {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": 0.2,
        }
    if scheme in AMQP_SCHEMES:
        # Publisher confirms: a publish returns once the broker has the message (with
        # quorum queues, once a majority of nodes has it), and raises on a nack.
        return {"confirm_publish": True}
    return {}


def result_backend_for(url: str) -> str:
    """The result backend for a URL: app/celery_results.py's for Redis, else the URL's own."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "app.celery_results:UnsubscribedRedisBackend+" + url
    return url


result_backend = result_backend_for(result_backend)
broker_transport_options = _transport_options(broker_url)
result_backend_transport_options = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    # A dead result store answers within about a second instead of retrying for 20 s.
    "retry_policy": {
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    },
}


def create_folders() -> None:
    """Create the folders the filesystem broker and file results need (standalone): each
    process that uses them calls this at start, so that importing this module writes nothing."""
    for key in ("data_folder_in", "control_folder", "processed_folder"):
        if key in broker_transport_options:
            Path(broker_transport_options[key]).mkdir(parents=True, exist_ok=True)
    if result_backend.startswith("file://"):
        Path(result_backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


broker_connection_timeout = 2
broker_connection_retry_on_startup = True

# --- Tasks --------------------------------------------------------------------------
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True
result_expires = 24 * 3600

# Late acknowledgement: a message leaves the broker only after its task has finished.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = SETTINGS.WORKER_PREFETCH_MULTIPLIER
# STARTED would cost every task one more result write (and a read); PENDING → SUCCESS is enough.
task_track_started = False

# Storage tasks: soft 5 min, hard 10 min; at most 3 retries with exponential backoff.
STORAGE_SOFT_TIME_LIMIT = SETTINGS.STORAGE_SOFT_TIME_LIMIT
STORAGE_TIME_LIMIT = SETTINGS.STORAGE_TIME_LIMIT
# A storage transaction waits at most this long for a lock, and a statement runs at most
# this long, so that a blocked COPY fails (and is retried, then parked) well before the
# soft limit: a child blocked inside libpq never sees the soft limit's signal, and only
# the hard limit would end it (workers set both on every PostgreSQL connection).
STORAGE_LOCK_TIMEOUT_MS = SETTINGS.STORAGE_LOCK_TIMEOUT_MS
STORAGE_STATEMENT_TIMEOUT_MS = SETTINGS.STORAGE_STATEMENT_TIMEOUT_MS
STORAGE_MAX_RETRIES = 3


# Publishing must not hang a request when the broker is down: one quick retry, then give up.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}


def backoff_seconds(base: float, retries_so_far: int) -> float:
    """Exponential backoff, the one formula every retrying task uses: base, 2x, 4x..."""
    return base * 2**retries_so_far


STORAGE_RETRY_BACKOFF = SETTINGS.STORAGE_RETRY_BACKOFF
# Storage messages wait up to STORAGE_BATCH_WAIT_MS, or until this many bytes of them
# wait, and are then stored in one transaction (app/worker/transport/celery_grouping.py);
# 0 turns that off. Held messages raise the prefetch up to MAX_HELD of them and 8 x MAX_BYTES.
STORAGE_BATCH_MAX_BYTES = SETTINGS.STORAGE_BATCH_MAX_BYTES
STORAGE_BATCH_WAIT_MS = SETTINGS.STORAGE_BATCH_WAIT_MS
STORAGE_BATCH_MAX_HELD = 2000
task_annotations = {
    name: {
        "soft_time_limit": STORAGE_SOFT_TIME_LIMIT,
        "time_limit": STORAGE_TIME_LIMIT,
        # A storage task that fails or hits its hard limit must never acknowledge its
        # events away: a timeout requeues the message, a failure is retried then parked.
        # (Celery 5.7 resolves the two newer names before annotations apply: set all three.)
        "acks_on_failure_or_timeout": False,
        "acks_on_failure": False,
        "acks_on_timeout": False,
    }
    for name in STORAGE_TASKS
}
if METERED:
    worker_enable_remote_control = False  # no pidbox subscription, no inspect/Flower

worker_max_tasks_per_child = SETTINGS.WORKER_MAX_TASKS_PER_CHILD
worker_send_task_events = False
# Pools started with task events (`-E`), which Flower's task views need. Not the storage
# pool by default: start_flower.sh keeps Flower from turning events on there (see README,
# "Flower"), and storage messages stored in groups send no task events anyway.
TASK_EVENT_POOLS = SETTINGS.WORKER_TASK_EVENTS
worker_hijack_root_logger = False

# Background work: every periodic task is idempotent and takes a PostgreSQL advisory
# lock, so two beats (or a slow run overlapping the next) give the result of one. A run
# that fails is logged with the app id and done again at the next tick; ticks that wait
# longer than their period are dropped (`expires`) rather than piling up.
AGGREGATION_SOFT_TIME_LIMIT = 10 * 60
AGGREGATION_TIME_LIMIT = 12 * 60
task_annotations.update(
    {
        name: {"soft_time_limit": AGGREGATION_SOFT_TIME_LIMIT, "time_limit": AGGREGATION_TIME_LIMIT}
        for name in AGGREGATION_TASKS
    }
)
task_annotations[WEBHOOK_TASK] = {"soft_time_limit": 60, "time_limit": 90}
# Re-validation and export walk millions of events in chunks: hours, not minutes.
JOB_SOFT_TIME_LIMIT = 4 * 3600
for _name in (REVALIDATE_TASK, EXPORT_TASK):
    task_annotations[_name] = {
        "soft_time_limit": JOB_SOFT_TIME_LIMIT,
        "time_limit": JOB_SOFT_TIME_LIMIT + 600,
    }
if METERED:  # nobody reads the results of mail and aggregation tasks (2 commands each)
    for _name in (*EMAIL_TASKS, *AGGREGATION_TASKS):
        task_annotations.setdefault(_name, {})["ignore_result"] = True
# Hour of the day (UTC) the digest of yesterday is sent.
DIGEST_HOUR_UTC = SETTINGS.DIGEST_HOUR_UTC

beat_schedule_filename = str(_instance / "celerybeat-schedule")
beat_schedule = {
    # Apps with events in the last few minutes: this hour and the last, within a minute
    # (metered profile: every 15 minutes, over the last 16).
    "rollup-recent-apps-every-minute": {
        "task": ROLLUP_RECENT_TASK,
        "schedule": 900.0 if METERED else 60.0,
        "kwargs": {"minutes": 16 if METERED else 5},
        "options": {"expires": 14 * 60 if METERED else 55},
    },
    # Every app with traffic in a day: the last 24 hours again (late events).
    "aggregate-all-apps-hourly": {
        "task": SUMMARIZE_ALL_TASK,
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    # Yesterday as a whole, once it is over.
    "aggregate-all-apps-daily": {
        "task": SUMMARIZE_ALL_TASK,
        "schedule": crontab(minute=5, hour=0),
        "kwargs": {"hours": 48},
        "options": {"expires": 3000},
    },
    "send-daily-digests": {
        "task": DIGEST_TASK,
        "schedule": crontab(minute=15, hour=DIGEST_HOUR_UTC),
        "options": {"expires": 3000},
    },
    # Retention and expired files, hourly (metered: an interval, so that no tick of it
    # falls on a fixed minute of every hour).
    "maintain-storage-hourly": {
        "task": MAINTENANCE_TASK,
        "schedule": 3600.0 if METERED else crontab(minute=30),
        "options": {"expires": 3000},
    },
}


def pool_concurrency(pool: str, env: Mapping[str, str] | None = None) -> int:
    """Return the concurrency of a pool, from `env` (default: this process's settings)."""
    return getattr(_settings_of(env), WORKER_POOLS[pool][2])


def autoscale_bounds(pool: str, env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(min, max) processes of an autoscaled pool: WORKER_<POOL>_AUTOSCALE="min,max", else
    1 to the pool's concurrency."""
    variable = WORKER_POOLS[pool][2].replace("_CONCURRENCY", "_AUTOSCALE")
    return getattr(_settings_of(env), variable) or (1, pool_concurrency(pool, env))


def worker_arguments(
    pool: str,
    celery_app: str | None = None,
    env: Mapping[str, str] | None = None,
    autoscale: bool = False,
) -> list[str]:
    """The `celery` arguments that start a pool: one definition for start_celery_worker.sh
    and the standalone launcher. Workers skip mingle (a 1 s wait at every start to sync
    revoked task ids, which this project never uses) and gossip (every worker following
    every other's heartbeats)."""
    config = _settings_of(env)
    queue = WORKER_POOLS[pool][0]
    if autoscale:  # Celery's option takes max first
        low, high = autoscale_bounds(pool, env)
        size = ["--autoscale", f"{high},{low}"]
    else:
        size = ["-c", str(pool_concurrency(pool, env))]
    return [
        "-A",
        celery_app or config.CELERY_APP,
        "worker",
        "-Q",
        queue,
        *size,
        "-n",
        f"{pool}@{config.WORKER_NODE_SUFFIX}",
        "--max-tasks-per-child",
        str(config.WORKER_MAX_TASKS_PER_CHILD),
        "--loglevel",
        config.WORKER_LOG_LEVEL,
        "--without-mingle",
        "--without-gossip",
        *(["--task-events"] if pool in config.WORKER_TASK_EVENTS else []),
        # Metered: no worker-heartbeat events (one every 2 s).
        *(["--without-heartbeat"] if config.LVD_PROFILE == "metered" else []),
    ]


def _main(argv: list[str]) -> None:
    if argv == ["pools"]:
        for pool, (queue, _default, _env) in WORKER_POOLS.items():
            print(pool, queue, pool_concurrency(pool))
        return
    if len(argv) in (2, 3) and argv[0] == "worker-args" and argv[1] in WORKER_POOLS:
        if argv[2:] not in ([], ["--autoscale"]):
            sys.exit(f"unknown option {argv[2]!r}")
        print("\n".join(worker_arguments(argv[1], autoscale=len(argv) == 3)))
        return
    sys.exit("usage: python celery_config.py pools | worker-args POOL [--autoscale]")


if __name__ == "__main__":
    _main(sys.argv[1:])
