"""start_celery_worker.sh: one pool is exec'd (the script's PID becomes the worker), all
pools run as children, and SIGTERM stops everything it started with a warm shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from tests.support.environment import PROJECT_ROOT
from tests.support.processes import process_tree, wait_for

SCRIPT = str(PROJECT_ROOT / "start_celery_worker.sh")


def start(*args: str) -> tuple[subprocess.Popen, Path]:
    log = Path(tempfile.mkstemp(prefix="start-script-", suffix=".log")[1])
    env = {
        **os.environ,
        "WORKER_DEFAULT_CONCURRENCY": "1",
        "WORKER_EMAILS_CONCURRENCY": "1",
        "WORKER_NODE_SUFFIX": f"script-{os.getpid()}",
        "PYTHON": os.environ.get("PYTHON", sys.executable),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", SCRIPT, *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def test_one_pool_is_execd_and_stops_warmly_on_sigterm():
    proc, log = start("default")
    try:
        wait_for(lambda: "ready." in log.read_text(), timeout=60)
        cmdline = " ".join(psutil.Process(proc.pid).cmdline())
        assert "celery" in cmdline and "-Q default" in cmdline and "-c 1" in cmdline
        assert "--max-tasks-per-child" in cmdline
        tree = process_tree(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "Warm shutdown" in log.read_text()
        wait_for(lambda: not any(p.is_running() for p in tree), timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_all_pools_start_and_sigterm_stops_every_one():
    proc, log = start()
    try:
        pools = ("default", "emails", "batch_processing", "emails_priority")
        wait_for(lambda: log.read_text().count("ready.") == len(pools), timeout=90)
        output = log.read_text()
        for pool in pools:
            assert f"{pool}@script-" in output
        tree = process_tree(proc.pid)
        assert len([p for p in tree if "celery" in " ".join(p.cmdline())]) >= 2 * len(pools)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        wait_for(lambda: not any(p.is_running() and p.status() != "zombie" for p in tree), 15)
    finally:
        if proc.poll() is None:
            for process in process_tree(proc.pid)[::-1]:
                process.kill()


def test_unknown_pool_is_refused_with_the_list_of_pools():
    result = subprocess.run(
        ["bash", SCRIPT, "nope"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)},  # (no .venv)
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown pool 'nope'" in result.stderr
    assert "default" in result.stderr and "batch_processing" in result.stderr
