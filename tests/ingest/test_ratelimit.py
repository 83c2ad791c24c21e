"""Rate limits reserved in blocks: never more than the limit, at most a block per process less."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from limits import parse

from app.ingest.ratelimit import IngestRateLimiter, block_size
from app.ingest.registry import AppEntry
from tests.support.environment import LIMITS_DB, TEST_REDIS_URL

STORAGE = f"{TEST_REDIS_URL}/{LIMITS_DB}"


def _entry(limit: str) -> AppEntry:
    return AppEntry(
        id=str(uuid.uuid4()), name="limited", key_digests=frozenset(), rate_limit=parse(limit)
    )


@pytest.mark.parametrize(
    ("limit", "block"),
    [
        ("3/minute", 1),
        ("199/minute", 1),
        ("200/minute", 2),
        ("5000/second", 50),
        ("1000000/hour", 100),
    ],
)
def test_block_is_about_one_percent_of_the_limit(limit, block):
    assert block_size(parse(limit)) == block


@pytest.mark.parametrize("processes", [1, 3])
def test_processes_sharing_redis_never_admit_more_than_the_limit(processes):
    entry = _entry("1000/hour")
    limiters = [IngestRateLimiter(STORAGE, "10/second") for _ in range(processes)]
    admitted = 0
    for attempt in range(1500):
        if limiters[attempt % processes].hit(entry) is None:
            admitted += 1
    assert admitted <= 1000
    assert admitted >= 1000 - processes * block_size(entry.rate_limit)


def test_refusal_says_how_long_to_wait():
    entry = _entry("200/hour")
    limiter = IngestRateLimiter(STORAGE, "10/second")
    answers = [limiter.hit(entry) for _ in range(201)]
    assert answers[:200] == [None] * 200
    assert 1 <= answers[200] <= 3600


def test_blocks_are_counted_in_redis_before_they_are_used():
    entry = _entry("5000/hour")
    limiter = IngestRateLimiter(STORAGE, "10/second")
    assert limiter.hit(entry) is None
    store = redis.Redis.from_url(STORAGE)
    (key,) = store.keys(f"*{entry.id}*")
    assert int(store.get(key)) == block_size(entry.rate_limit) == 50


def test_a_block_lasts_the_whole_window_of_a_per_second_limit():
    """Windows end to the millisecond: one reservation serves a whole block, even for
    a one-second window."""
    entry = _entry("5000/second")
    limiter = IngestRateLimiter(STORAGE, "10/second")
    store = redis.Redis.from_url(STORAGE)
    assert limiter.hit(entry) is None
    (key,) = store.keys(f"*{entry.id}*")
    while store.pttl(key) < 300:  # start in a fresh window with time to spare
        time.sleep(0.05)
        assert limiter.hit(entry) is None
    counted = int(store.get(key))
    for _ in range(10):
        assert limiter.hit(entry) is None
    assert int(store.get(key)) - counted <= block_size(entry.rate_limit)
