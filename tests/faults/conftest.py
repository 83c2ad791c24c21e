"""Fixtures the fault scenarios share: a broker of the test's own (a private Redis no
session worker consumes), an app publishing to it, and a Redis that keeps its data
across a crash."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.faults.scenario import scenario_app
from tests.support.servers import PrivateRedis


@dataclass
class FaultBroker:
    """Broker (db 0) and results (db 1) URLs on a private Redis, and a client of the broker."""

    server: PrivateRedis

    @property
    def broker_url(self) -> str:
        return self.server.url

    @property
    def results_url(self) -> str:
        return self.server.url_for(1)

    @property
    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.broker_url)

    @property
    def worker_env(self) -> dict[str, str]:
        """What a worker pool needs to consume this broker instead of the session's."""
        return {"CELERY_BROKER_URL": self.broker_url, "CELERY_RESULT_BACKEND": self.results_url}


@pytest.fixture
def fault_broker(private_redis) -> FaultBroker:
    return FaultBroker(private_redis)


@pytest.fixture
def fault_app(app, fault_broker):
    """An app publishing to the fault broker, which no session worker consumes."""
    with scenario_app(app, fault_broker.broker_url, fault_broker.results_url) as built:
        yield built


@pytest.fixture
def durable_redis() -> Iterator[PrivateRedis]:
    """A private Redis with the append-only file on: start() after crash() reloads its data."""
    server = PrivateRedis(appendonly=True).start()
    yield server
    server.stop()
