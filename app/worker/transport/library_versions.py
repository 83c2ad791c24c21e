"""Refuse to start a worker on celery or kombu versions the private-API code was not tested with.

`worker/transport/kombu_redis.py` (with `redis_qos.py`, `redis_ownership.py` and
`redis_pressure.py`), `worker/transport/celery_grouping.py` and `celery_results.py` subclass
or call private parts of kombu and Celery (listed in PRIVATE_NAMES). Those can change in
any release, and a change would show up as lost or repeated messages, not as an error.
A worker therefore starts only on the versions below, unless the operator accepts the
risk with LVD_ALLOW_UNTESTED_LIBRARIES=1. `tests/worker/test_library_versions.py`
checks that every name still exists in the installed versions, so an upgrade fails in
CI before it reaches production.
"""

from __future__ import annotations

import logging
from importlib import metadata

import settings

log = logging.getLogger(__name__)

TESTED_VERSIONS = {"celery": "5.7.0", "kombu": "5.7.0"}
OVERRIDE_VARIABLE = "LVD_ALLOW_UNTESTED_LIBRARIES"

# (module:object, attribute) pairs the project relies on beyond the public APIs.
PRIVATE_NAMES = (
    # worker/transport/kombu_redis.py: receive with BLMOVE, record several messages per wake-up.
    ("kombu.transport.redis:Channel", "_brpop_start"),
    ("kombu.transport.redis:Channel", "_brpop_read"),
    ("kombu.transport.redis:Channel", "_in_poll"),
    ("kombu.transport.redis:Channel", "_brpop_sent_at"),
    ("kombu.transport.redis:Channel", "_flush_brpop_reauth"),
    ("kombu.transport.redis:Channel", "conn_or_acquire"),
    ("kombu.transport.redis:Channel", "unacked_key"),
    ("kombu.transport.redis:Channel", "unacked_index_key"),
    ("kombu.transport.redis:QoS", "_remove_from_indices"),
    ("kombu.transport.redis:QoS", "restore_by_tag"),
    ("kombu.transport.redis:QoS", "restore_visible"),
    ("kombu.transport.redis:QoS", "pipe_or_acquire"),
    # worker/transport/redis_qos.py: the sweep by consumer death in place of restore_visible.
    ("kombu.transport.redis:QoS", "unacked_mutex_key"),
    ("kombu.transport.redis:QoS", "unacked_mutex_expire"),
    ("kombu.transport.redis:Channel", "from_transport_options"),
    ("kombu.transport.redis", "Mutex"),
    ("kombu.transport.redis", "MutexHeld"),
    ("kombu.asynchronous.hub:Hub", "call_repeatedly"),
    ("kombu.transport.virtual.base:QoS", "can_consume_max_estimate"),
    # worker/transport/kombu_redis.py: keep starting and consuming while Redis refuses writes.
    ("kombu.transport.redis:Channel", "_queue_bind"),
    ("kombu.transport.redis:QoS", "restore_unacked"),
    ("kombu.transport.virtual.base:QoS", "_delivered"),
    ("kombu.transport.redis:Transport", "brpop_timeout"),
    ("kombu.transport.redis:Channel", "_size"),
    ("kombu.transport.redis:Channel", "_q_for_pri"),
    ("kombu.transport.virtual.base:Transport", "_deliver"),
    ("kombu.asynchronous.hub:Hub", "call_later"),
    # worker/transport/celery_grouping.py: a strategy that holds storage messages for a group job.
    ("celery.worker.strategy", "default"),
    ("celery.app.trace", "LOG_RECEIVED"),
    ("celery.worker.consumer.consumer:Consumer", "restart_count"),
    ("kombu.common:QoS", "increment_eventually"),
    ("kombu.common:QoS", "decrement_eventually"),
    # celery_results.py: storage results written without PUBLISH (store_result reaches
    # _set in the calling thread), several in one pipeline.
    ("celery.backends.redis:RedisBackend", "_set"),
    ("celery.backends.redis:RedisBackend", "_get_result_meta"),
    ("celery.backends.redis:RedisBackend", "on_task_call"),
    # worker/transport/amqp_consumer.py: the consumer's steps, minus DelayedDelivery.
    ("celery.worker.consumer.consumer:Consumer", "Blueprint"),
    ("celery.worker.consumer.delayed_delivery", "DelayedDelivery"),
)
# Attributes an instance sets up in __init__ (checked on live objects by the test).
PRIVATE_INSTANCE_NAMES = (
    ("kombu.transport.redis:QoS", "_vrestore_count"),
    ("kombu.transport.redis:Channel", "_queue_cycle"),
    ("kombu.transport.redis:Channel", "_qos"),
    ("kombu.asynchronous.hub:Hub", "on_tick"),
)


class UntestedLibraryVersion(RuntimeError):
    """celery or kombu is not the version the private-API code was tested with."""


def untested_versions() -> dict[str, str]:
    """The installed versions that differ from TESTED_VERSIONS, by package."""
    found = {name: metadata.version(name) for name in TESTED_VERSIONS}
    return {name: version for name, version in found.items() if version != TESTED_VERSIONS[name]}


def check_library_versions() -> None:
    """Raise UntestedLibraryVersion on untested versions, unless the override is set."""
    untested = untested_versions()
    if not untested:
        return
    installed = ", ".join(f"{name} {version}" for name, version in sorted(untested.items()))
    tested = ", ".join(f"{name} {version}" for name, version in sorted(TESTED_VERSIONS.items()))
    message = (
        f"workers were written and tested for {tested}, but {installed} is installed; "
        "install the versions in requirements.txt, or set "
        f"{OVERRIDE_VARIABLE}=1 to run anyway at the risk of lost or repeated messages"
    )
    if settings.load().LVD_ALLOW_UNTESTED_LIBRARIES:
        log.warning("%s (overridden by %s=1)", message, OVERRIDE_VARIABLE)
        return
    raise UntestedLibraryVersion(message)
