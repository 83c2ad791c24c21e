"""The broker's durability is checked at start: a warning, or a refusal in production.

A test-owned Redis starts without the append-only file; a worker pointed at it with
`PRODUCTION=1` refuses to start and says why, the override lets it start, and once the
Redis settings are fixed nothing is reported. Gunicorn runs the same check before serving.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from app.ops.durability import UndurableBroker, broker_problems, check_broker_at_start
from tests.support.environment import PROJECT_ROOT
from tests.support.processes import WorkerPool, wait_for
from tests.support.servers import free_port, gunicorn


def test_problems_name_each_setting_until_fixed(private_redis):
    import redis

    client = redis.Redis.from_url(private_redis.url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    problems = broker_problems(private_redis.url)
    assert len(problems) == 2
    assert "appendonly is off" in problems[0]
    assert "'allkeys-lru'" in problems[1]

    client.config_set("appendonly", "yes")
    client.config_set("maxmemory-policy", "noeviction")
    assert broker_problems(private_redis.url) == []
    assert broker_problems("amqp://guest@127.0.0.1//") == []  # only Redis is checked


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({}, False),
        ({"PRODUCTION": "1"}, True),
        ({"PRODUCTION": "1", "LVD_ALLOW_UNDURABLE_BROKER": "1"}, False),
    ],
)
def test_production_refuses_an_undurable_broker(private_redis, env, refused, caplog):
    if refused:
        with pytest.raises(UndurableBroker, match="appendonly is off"):
            check_broker_at_start(private_redis.url, "web", env)
    else:
        check_broker_at_start(private_redis.url, "web", env)
    assert "web: broker appendonly is off" in caplog.text


def test_worker_refuses_to_start_in_production(app, private_redis):
    env = {
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_RESULT_BACKEND": private_redis.url,
        "PRODUCTION": "1",
    }
    refused = WorkerPool("default", concurrency=1, env=env).start(wait=False)
    try:
        wait_for(lambda: refused.proc.poll() is not None, timeout=60)
        assert "worker refuses to start" in refused.output()
        assert "LVD_ALLOW_UNDURABLE_BROKER=1" in refused.output()
    finally:
        refused.stop()

    allowed = WorkerPool("default", concurrency=1, env={**env, "LVD_ALLOW_UNDURABLE_BROKER": "1"})
    try:
        allowed.start()
        assert "worker: broker appendonly is off" in allowed.output()
    finally:
        allowed.stop()


def test_gunicorn_refuses_to_start_in_production(private_redis):
    """The web tier's check runs in gunicorn's `on_starting` hook: in production gunicorn
    exits with the reason instead of serving; the override lets it serve."""
    env = {
        **os.environ,
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_RESULT_BACKEND": private_redis.url,
        "PRODUCTION": "1",
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "WEB_CONCURRENCY": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    refused = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "run:app"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "appendonly is off" in refused.stdout + refused.stderr
    assert "LVD_ALLOW_UNDURABLE_BROKER=1" in refused.stdout + refused.stderr

    allowed = {**env, "LVD_ALLOW_UNDURABLE_BROKER": "1"}
    allowed.pop("GUNICORN_BIND")
    with gunicorn(env=allowed, workers=1) as url:
        assert requests.get(f"{url}/health", timeout=10).status_code in (200, 503)
