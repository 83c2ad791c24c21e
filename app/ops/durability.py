"""Check, at web and worker start, that a Redis broker can keep a 202's promise.

Queued events, unacknowledged messages and parked records live only in the broker. A
Redis without the append-only file loses them all when it restarts, and one that evicts
keys under memory pressure drops them silently. Both are settings of the Redis server,
so each process reads them when it starts: a warning in the log, or, with
`PRODUCTION=1`, a refusal to start (`LVD_ALLOW_UNDURABLE_BROKER=1` overrides).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlparse

import redis

import settings

log = logging.getLogger(__name__)

OVERRIDE_VARIABLE = "LVD_ALLOW_UNDURABLE_BROKER"


class UndurableBroker(RuntimeError):
    """The broker would lose accepted events on a restart or under memory pressure."""


def broker_problems(url: str, timeout: float = 2.0) -> list[str]:
    """What about a Redis broker breaks the promise of a 202 (empty: nothing; other
    brokers are not checked)."""
    if urlparse(url).scheme not in ("redis", "rediss"):
        return []
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        persistence = client.info("persistence")
        memory = client.info("memory")
    finally:
        client.close()
    problems = []
    if not int(persistence.get("aof_enabled", 0)):
        problems.append(
            "appendonly is off: a Redis restart loses every queued and unacknowledged event"
        )
    policy = memory.get("maxmemory_policy", "")
    if policy != "noeviction":
        problems.append(
            f"maxmemory-policy is {policy!r}: Redis may evict queued events when full "
            "(set noeviction)"
        )
    return problems


def check_broker_at_start(url: str, role: str, env: Mapping[str, str] | None = None) -> None:
    """Log what is wrong with the broker; raise UndurableBroker in production unless
    overridden (PRODUCTION and the override are read from `env`, default this process's
    environment). A broker that does not answer is left to the usual connection errors."""
    try:
        problems = broker_problems(url)
    except redis.RedisError as exc:
        log.warning("%s: could not check the broker's durability: %s", role, exc)
        return
    if not problems:
        return
    for problem in problems:
        log.warning("%s: broker %s", role, problem)
    config = settings.load(env)
    if config.PRODUCTION and not config.LVD_ALLOW_UNDURABLE_BROKER:
        raise UndurableBroker(
            f"{role} refuses to start: the broker cannot keep accepted events ("
            + "; ".join(problems)
            + f"). Fix the Redis settings, or set {OVERRIDE_VARIABLE}=1 to start anyway."
        )
