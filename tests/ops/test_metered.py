"""The metered-Redis profile (LVD_PROFILE=metered): an idle deployment (web, every pool,
beat) against a Redis of the test's own, counted with INFO commandstats over a window
after start-up and projected to a day; then an event posted to the idle deployment is
stored, and a pool stops warmly on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

from celery_config import WORKER_POOLS
from tests.conftest import recreate_database
from tests.ops.conftest import ScriptPool
from tests.support import PROJECT_ROOT, TEST_DATABASE_URL, gunicorn, wait_for

WINDOW_SECONDS = float(os.environ.get("METERED_TEST_WINDOW", 60))
PROFILE = os.environ.get("METERED_TEST_PROFILE", "metered")  # "standard": the comparison
# The target is 5,000 a day; with the 20 s receive wait that warm shutdowns need,
# four pools alone issue about 17,000 receives a day (README, "Metered Redis").
MAX_PER_DAY = 25_000
SETTLE_SECONDS = 10
DAY = 86400
# Commands the test itself sends while counting.
OWN_COMMANDS = {"info", "config|resetstat", "config"}


def commands_by_name(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): values["calls"]
        for name, values in stats.items()
        if name.removeprefix("cmdstat_") not in OWN_COMMANDS
    }


@contextlib.contextmanager
def beat(env: dict):
    log = Path(tempfile.mkstemp(prefix="beat-", suffix=".log")[1])
    schedule = Path(tempfile.mkdtemp(prefix="beat-")) / "schedule"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "run.celery_app",
                "beat",
                "-s",
                str(schedule),
                "--loglevel",
                "INFO",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: proc.poll() is not None or "beat: Starting" in log.read_text(), 60)
        assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fresh_deployment_database() -> str:
    """A migrated database of this test's own: an idle deployment has no other apps whose
    recent traffic beat would roll up (the session database holds every test's apps)."""
    url = f"{TEST_DATABASE_URL}_metered"
    recreate_database(url)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run", "db", "upgrade"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return url


def create_tracked_app(env: dict) -> dict:
    created = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run", "apps", "create", "metered", "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    answer = json.loads(created.stdout.strip().splitlines()[-1])
    return {"id": answer["id"], "key": answer["ingest_key"]}


def test_idle_deployment_commands_per_day(app, private_redis):
    env = {
        **os.environ,
        "LVD_PROFILE": PROFILE,
        "DATABASE_URL": fresh_deployment_database(),
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_RESULT_BACKEND": private_redis.url.replace("/0", "/1"),
        "REDIS_URL": private_redis.url.replace("/0", "/2"),
    }
    tracked = create_tracked_app(env)
    counted = redis.Redis.from_url(private_redis.url)
    pools = [ScriptPool(pool, env) for pool in WORKER_POOLS]
    try:
        for pool in pools:
            pool.start(wait=False)
        for pool in pools:
            wait_for(pool.ready, timeout=90)
        with beat(env), gunicorn(env, workers=1) as url:
            time.sleep(SETTLE_SECONDS)  # start-up commands are not idle ones
            counted.config_resetstat()
            time.sleep(WINDOW_SECONDS)
            idle = commands_by_name(counted)
            total = sum(idle.values())
            per_day = total * DAY / WINDOW_SECONDS
            print(
                f"{PROFILE} idle: {total} commands in {WINDOW_SECONDS:.0f} s -> {per_day:.0f}/day"
            )
            print("by command:", dict(sorted(idle.items(), key=lambda kv: -kv[1])))

            answer = requests.post(
                f"{url}/api/logs/{tracked['id']}",
                json={"eventName": "metered"},
                headers={"X-API-Key": tracked["key"]},
                timeout=10,
            )
            assert answer.status_code == 202
            task_id = answer.json()["task_id"]
            states = lambda: requests.get(f"{url}/api/tasks/{task_id}", timeout=10).json()  # noqa: E731
            wait_for(lambda: states()["state"] == "SUCCESS", timeout=30, interval=0.2)
        storage = pools[0]
        stopping = time.monotonic()
        storage.proc.send_signal(signal.SIGTERM)
        assert storage.proc.wait(timeout=60) == 0
        print(f"warm shutdown of the storage pool: {time.monotonic() - stopping:.1f} s")
        assert "Warm shutdown" in storage.output()
    finally:
        for pool in pools:
            pool.stop()
    if PROFILE == "metered":
        assert per_day <= MAX_PER_DAY, idle
