"""Celery settings and the queue topology, written once.

`start_celery_worker.sh`, the standalone launcher, Flower and the tests read the pool
names and sizes from here (`python celery_config.py pools` prints them).
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

from kombu import Exchange, Queue

from app.config import instance_path

# --- Queue topology ---------------------------------------------------------------
DEFAULT_QUEUE = "default"
EMAIL_QUEUE = "emails"
BATCH_QUEUE = "batch_processing"
DEAD_LETTER_QUEUE = "dead_letter"  # no pool consumes it; `flask events replay-failed` does

# pool name -> (queue, default concurrency, env var that overrides it)
WORKER_POOLS = {
    DEFAULT_QUEUE: (DEFAULT_QUEUE, 8, "WORKER_DEFAULT_CONCURRENCY"),
    EMAIL_QUEUE: (EMAIL_QUEUE, 2, "WORKER_EMAILS_CONCURRENCY"),
    BATCH_QUEUE: (BATCH_QUEUE, 1, "WORKER_BATCH_CONCURRENCY"),
}

STORAGE_TASKS = ("process_event_async", "process_event_batch")
EMAIL_TASKS = ("send_email_async",)
BATCH_TASKS = ("batch_process_events", "aggregate_all_apps")

task_queues = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in (DEFAULT_QUEUE, EMAIL_QUEUE, BATCH_QUEUE)
)
task_default_queue = DEFAULT_QUEUE
task_routes = {
    **{name: {"queue": DEFAULT_QUEUE} for name in STORAGE_TASKS},
    **{name: {"queue": EMAIL_QUEUE} for name in EMAIL_TASKS},
    **{name: {"queue": BATCH_QUEUE} for name in BATCH_TASKS},
}

# --- Broker and results -------------------------------------------------------------
# Unset URLs mean standalone: kombu's filesystem transport and file results, no server.
_instance = instance_path()
broker_url = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
result_backend = os.environ.get("CELERY_RESULT_BACKEND") or (
    f"file://{_instance / 'celery-results'}"
    if broker_url.startswith("filesystem")
    else "redis://127.0.0.1:6379/1"
)

# A message unacknowledged this long is handed to another worker. Storage is idempotent,
# so a redelivered slow task is harmless; a worker killed mid-task loses nothing.
VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 60))
# How often the Redis transport sweeps for such messages (kombu's default is ~100 s).
RESTORE_INTERVAL = int(os.environ.get("CELERY_RESTORE_INTERVAL", 10))


def broker_transport_for(url: str) -> str | None:
    """Our Redis transport (app/broker_redis.py) for redis:// brokers; None: the URL's."""
    return "app.broker_redis:Transport" if urlparse(url).scheme in ("redis", "rediss") else None


def _transport_options(url: str) -> dict:
    scheme = urlparse(url).scheme
    if scheme.startswith("redis") or scheme == "rediss":
        return {
            # One list per queue: a consumer can then move each message atomically.
            "priority_steps": [0],
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "unacked_restore_interval": RESTORE_INTERVAL,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 2,
        }
    if scheme == "filesystem":
        folder = _instance / "broker"
        for sub in ("queue", "control", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": 0.2,
        }
    return {}


def publish_only(url: str) -> str:
    """Select app.result_backend's Redis backend for redis:// result URLs."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "app.result_backend:PublishOnlyRedisBackend+" + url
    return url


result_backend = publish_only(result_backend)
broker_transport = broker_transport_for(broker_url)
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
if result_backend.startswith("file://"):
    (_instance / "celery-results").mkdir(parents=True, exist_ok=True)
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
worker_prefetch_multiplier = int(os.environ.get("WORKER_PREFETCH_MULTIPLIER", 1))
# STARTED would cost every task one more result write (and a read); PENDING → SUCCESS is enough.
task_track_started = os.environ.get("TASK_TRACK_STARTED", "0") == "1"

# Storage tasks: soft 5 min, hard 10 min; at most 3 retries with exponential backoff.
STORAGE_SOFT_TIME_LIMIT = 5 * 60
STORAGE_TIME_LIMIT = 10 * 60
STORAGE_MAX_RETRIES = 3
STORAGE_RETRY_BACKOFF = float(os.environ.get("STORAGE_RETRY_BACKOFF", 2))
# Storage messages wait up to STORAGE_BATCH_WAIT_MS, or until this many bytes of them
# wait, and are then stored in one transaction (app/storage_batching.py); 0 turns that
# off. Held messages raise the prefetch up to MAX_HELD of them and 8 x MAX_BYTES.
STORAGE_BATCH_MAX_BYTES = int(os.environ.get("STORAGE_BATCH_MAX_BYTES", 1024 * 1024))
STORAGE_BATCH_WAIT_MS = float(os.environ.get("STORAGE_BATCH_WAIT_MS", 50))
STORAGE_BATCH_MAX_HELD = int(os.environ.get("STORAGE_BATCH_MAX_HELD", 2000))
task_annotations = {
    name: {"soft_time_limit": STORAGE_SOFT_TIME_LIMIT, "time_limit": STORAGE_TIME_LIMIT}
    for name in STORAGE_TASKS
}

worker_max_tasks_per_child = int(os.environ.get("WORKER_MAX_TASKS_PER_CHILD", 10000))
worker_send_task_events = False
worker_hijack_root_logger = False

beat_schedule_filename = str(_instance / "celerybeat-schedule")
beat_schedule = {
    "aggregate-all-apps-hourly": {
        "task": "aggregate_all_apps",
        "schedule": 3600.0,
    },
}


def pool_concurrency(pool: str) -> int:
    """Return the concurrency of a pool, honouring its environment override."""
    _queue, default, env_var = WORKER_POOLS[pool]
    return int(os.environ.get(env_var, default))


if __name__ == "__main__":
    if sys.argv[1:] == ["pools"]:
        for pool, (queue, _default, _env) in WORKER_POOLS.items():
            print(pool, queue, pool_concurrency(pool))
    else:
        sys.exit("usage: python celery_config.py pools")
