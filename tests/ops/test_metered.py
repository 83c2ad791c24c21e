"""The metered-Redis profile (LVD_PROFILE=metered): an idle deployment (web, every pool,
beat) against a Redis of the test's own, counted with INFO commandstats over a window
after start-up and projected to a day, with the work slower than the window (the end of
each pool's long receive, beat's ticks, sweeps, keep-alives) added from one counted
occurrence of each; then events posted one at a time are picked up within 100 ms (p95),
and a pool waiting in its long receive stops warmly on SIGTERM within 30 s."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import redis
import requests
from celery import Celery
from kombu import Connection

from app.worker.transport.redis_ownership import SWEEP_LEASE_KEY
from celery_config import WORKER_POOLS, task_routes
from tests.ops.conftest import ScriptPool
from tests.support.databases import recreate_database
from tests.support.environment import PROJECT_ROOT, TEST_DATABASE_URL
from tests.support.processes import wait_for
from tests.support.servers import PrivateRedis, gunicorn

# The window counts everything at least this frequent. The receive wait (300 s) and beat's
# ticks (15 min and longer) are slower: each is counted once, as it happens in the
# deployment, and projected (see the test below). Longer than redis-py's health-check
# interval (25 s), so a receive ended after the window sends its PING as after 300 s.
WINDOW_SECONDS = float(os.environ.get("METERED_TEST_WINDOW", 60))
PROFILE = os.environ.get("METERED_TEST_PROFILE", "metered")  # "standard": the comparison
MAX_PER_DAY = 5_000  # the target
SETTLE_SECONDS = 10
DAY = 86400
PICKUPS = 40
PICKUP_P95_SECONDS = 0.1  # the bound (wall-clock: the one time this test asserts)
WARM_SHUTDOWN_SECONDS = 30  # the bound
# Commands the test itself sends while counting.
OWN_COMMANDS = {"info", "config|resetstat", "config", "client|list", "client|unblock"}
TRANSPORT = "app.worker.transport.kombu_redis:Transport"
LOGGED_AT = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*Task \w+\[([0-9a-f-]+)\] received", re.M
)
# Settings as the deployment's processes read them (celery_config reads the profile once,
# at import): beat's entries (task, kwargs, runs a day), the sweep and keep-alive cadences.
CONFIG_SCRIPT = """
import json, celery_config as c
def runs(s):
    if isinstance(s, (int, float)):
        return 86400 / s
    return len(s.hour) * len(s.minute) * len(s.day_of_week) / 7
print(json.dumps({"schedule": {name: {"task": e["task"], "kwargs": e.get("kwargs", {}),
    "runs_per_day": runs(e["schedule"])} for name, e in c.beat_schedule.items()},
    "transport": c.broker_transport_options}))
"""


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


def _json_from(arguments: list[str], env: dict):
    """Run a Python command of the deployment and read the JSON of its last output line."""
    done = subprocess.run(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def create_tracked_app(env: dict) -> dict:
    answer = _json_from(["-m", "flask", "--app", "run", "apps", "create", "metered", "--json"], env)
    return {"id": answer["id"], "key": answer["ingest_key"]}


@dataclass
class Deployment:
    env: dict
    url: str
    tracked: dict
    pools: list[ScriptPool]
    broker: redis.Redis


@pytest.fixture(scope="module")
def deployment(app) -> Iterator[Deployment]:
    """Web, every pool and beat, idle, in PROFILE, on a Redis of the module's own."""
    server = PrivateRedis().start()
    env = {
        **os.environ,
        "LVD_PROFILE": PROFILE,
        "DATABASE_URL": fresh_deployment_database(),
        "CELERY_BROKER_URL": server.url,
        "CELERY_RESULT_BACKEND": server.url.replace("/0", "/1"),
        "REDIS_URL": server.url.replace("/0", "/2"),
    }
    pools = [ScriptPool(pool, env) for pool in WORKER_POOLS]
    try:
        tracked = create_tracked_app(env)
        for pool in pools:
            pool.start(wait=False)
        for pool in pools:
            wait_for(pool.ready, timeout=90)
        with beat(env), gunicorn(env, workers=1) as url:
            yield Deployment(env, url, tracked, pools, redis.Redis.from_url(server.url))
    finally:
        for pool in pools:
            pool.stop()
        server.stop()


def deployment_config(env: dict) -> dict:
    return _json_from(["-c", CONFIG_SCRIPT], env)


def commands_of_one_run(deployment: Deployment, entry: dict) -> int:
    """Commands sent for one run of a scheduled task: its publish, receive, acknowledgement."""
    url = deployment.env["CELERY_BROKER_URL"]
    sender = Celery()
    # (CELERY_BROKER_URL, which the test session sets, would win over broker_url.)
    sender.conf.update(broker_read_url=url, broker_write_url=url)
    queue = task_routes[entry["task"]]["queue"]
    pool = next(p for p in deployment.pools if p.queue == queue)
    deployment.broker.config_resetstat()
    sent = sender.send_task(entry["task"], kwargs=entry.get("kwargs", {}), queue=queue)
    wait_for(lambda: f"[{sent.id}] succeeded" in pool.output(), timeout=60)
    time.sleep(1)  # its acknowledgement and the receive that follows are sent
    sender.close()
    used = commands_by_name(deployment.broker)
    print(f"one run of {entry['task']}:", dict(sorted(used.items(), key=lambda kv: -kv[1])))
    return sum(used.values())


def commands_of_sweeps_and_keep_alives(deployment: Deployment, options: dict) -> dict:
    """Commands a day of the periodic work slower than the window, each counted once here
    with the workers' transport against the deployment's Redis (its four consumers):
    one sweep per restore interval (the other pools' timers find its lease taken: one
    command each), and each pool's keep-alive refresh every third of the TTL."""
    counted = deployment.broker
    pools = len(deployment.pools)
    with Connection(
        deployment.env["CELERY_BROKER_URL"], transport=TRANSPORT, transport_options=options
    ) as connection:
        channel = connection.default_channel
        channel.keep_alive()  # (connects, creates the key, loads the lock's script)
        channel.qos.restore_visible(interval=1)
        counted.delete(SWEEP_LEASE_KEY)
        costs = {}
        for name in ("sweep", "sweep found taken", "keep-alive"):
            counted.config_resetstat()
            if name == "keep-alive":
                channel._alive_at = float("-inf")  # as when a third of the TTL has passed
                channel.keep_alive()
            else:
                channel.qos.restore_visible(interval=1)
            costs[name] = sum(commands_by_name(counted).values())
        counted.delete(channel.alive_key)
    print("periodic work, commands each:", costs)
    sweep_every, refresh_every = options["unacked_restore_interval"], options["consumer_ttl"] / 3
    per_day = {
        "sweeps": DAY / sweep_every * (costs["sweep"] + (pools - 1) * costs["sweep found taken"]),
        "keep-alives": pools * DAY / refresh_every * costs["keep-alive"],
    }
    # Work at least as frequent as the window was counted in it already.
    slower = {"sweeps": sweep_every > WINDOW_SECONDS, "keep-alives": refresh_every > WINDOW_SECONDS}
    return {name: figure for name, figure in per_day.items() if slower[name]}


def pending_receives(broker: redis.Redis) -> list[dict]:
    """The connections blocked in a receive: one per pool when the deployment is idle."""
    return [client for client in broker.client_list() if "b" in client["flags"]]


def end_every_receive(deployment: Deployment) -> None:
    """End each pool's pending receive as its wait running out would (CLIENT UNBLOCK ...
    TIMEOUT: the pool reads the same empty reply) and wait until each waits again."""
    waiting = pending_receives(deployment.broker)
    assert len(waiting) == len(deployment.pools), waiting
    for client in waiting:
        assert deployment.broker.client_unblock(client["id"])
    wait_for(lambda: len(pending_receives(deployment.broker)) == len(waiting), timeout=30)


def commands_of_receive_ends(deployment: Deployment) -> int:
    """Commands sent as every pool's receive ends empty once and the next one starts."""
    deployment.broker.config_resetstat()
    end_every_receive(deployment)
    time.sleep(1)  # whatever else a pool sends after an empty receive is sent
    used = commands_by_name(deployment.broker)
    print("every pool's receive ending once:", dict(sorted(used.items(), key=lambda kv: -kv[1])))
    return sum(used.values())


def test_idle_deployment_commands_per_day(deployment):
    config = deployment_config(deployment.env)
    receive_wait = config["transport"].get("polling_interval", 1)  # kombu's default: 1 s
    receives_slower = receive_wait > WINDOW_SECONDS
    time.sleep(SETTLE_SECONDS)  # start-up commands are not idle ones
    if receives_slower:  # each pool waits anew: no receive ends within the window
        end_every_receive(deployment)
    deployment.broker.config_resetstat()
    time.sleep(WINDOW_SECONDS)
    idle = commands_by_name(deployment.broker)
    if receives_slower:  # (a receive that ended in the window would be counted twice)
        ages = [int(client["idle"]) for client in pending_receives(deployment.broker)]
        assert len(ages) == len(deployment.pools) and min(ages) >= WINDOW_SECONDS - 1, ages
    per_day = sum(idle.values()) * DAY / WINDOW_SECONDS
    print(f"{PROFILE} idle: {sum(idle.values())} commands in {WINDOW_SECONDS:.0f} s")
    print("by command:", dict(sorted(idle.items(), key=lambda kv: -kv[1])))
    receives = {}
    if receives_slower:
        receives["receive ends"] = commands_of_receive_ends(deployment) * DAY / receive_wait
        print("receives ending, commands a day:", {k: round(v) for k, v in receives.items()})
    scheduled = {}
    entries = list(config["schedule"].values())
    commands_of_one_run(deployment, entries[0])  # the sender connects, declares the queue
    for name, entry in config["schedule"].items():
        if DAY / entry["runs_per_day"] > WINDOW_SECONDS:  # else counted in the window
            scheduled[name] = commands_of_one_run(deployment, entry) * entry["runs_per_day"]
    print("beat, commands a day by entry:", {k: round(v) for k, v in scheduled.items()})
    periodic = commands_of_sweeps_and_keep_alives(deployment, config["transport"])
    print("sweeps and keep-alives, commands a day:", {k: round(v) for k, v in periodic.items()})
    per_day += sum(receives.values()) + sum(scheduled.values()) + sum(periodic.values())
    print(f"{PROFILE} idle deployment: {per_day:.0f} commands a day")
    if PROFILE == "metered":
        assert per_day <= MAX_PER_DAY, idle


def test_a_task_is_picked_up_within_100_ms_p95(deployment):
    """Events posted one at a time to the idle deployment: from the request's start to
    the storage pool's "received" log line (same host clock, millisecond resolution)."""
    posted = {}
    for i in range(PICKUPS):
        time.sleep(0.25)  # each arrives while the pool waits in its long receive
        started = time.time()
        answer = requests.post(
            f"{deployment.url}/api/logs/{deployment.tracked['id']}",
            json={"eventName": "metered", "eventId": f"pickup-{i}"},
            headers={"X-API-Key": deployment.tracked["key"]},
            timeout=10,
        )
        assert answer.status_code == 202
        posted[answer.json()["task_id"]] = started
    storage = deployment.pools[0]

    def received() -> dict[str, float]:
        return {
            task: datetime.strptime(at, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for at, task in LOGGED_AT.findall(storage.output())
            if task in posted
        }

    wait_for(lambda: len(received()) == PICKUPS, timeout=30)
    latencies = sorted(at - posted[task] for task, at in received().items())
    p95 = latencies[int(0.95 * PICKUPS) - 1]
    slow = sum(latency > PICKUP_P95_SECONDS for latency in latencies)
    print(
        f"pick-up: p50 {latencies[PICKUPS // 2] * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"{slow} of {PICKUPS} over {PICKUP_P95_SECONDS * 1000:.0f} ms"
    )
    assert p95 <= PICKUP_P95_SECONDS, latencies


def test_warm_shutdown_of_a_pool_waiting_in_a_long_receive(deployment):
    storage = deployment.pools[0]
    time.sleep(2)  # idle again: the pool waits in a receive of METERED_RECEIVE_WAIT
    stopping = time.monotonic()
    storage.proc.send_signal(signal.SIGTERM)
    assert storage.proc.wait(timeout=60) == 0
    took = time.monotonic() - stopping
    print(f"warm shutdown of the storage pool: {took:.1f} s")
    assert "Warm shutdown" in storage.output()
    assert took < WARM_SHUTDOWN_SECONDS  # the bound; the receive waits 300 s
    assert deployment.broker.llen("default") == 0
    assert not list(deployment.broker.scan_iter(match="lvd.receiving:*"))
