"""Real processes for the tests: Celery worker pools, a locust run, polling until a
condition holds, and the process tree a stop must leave empty."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.support.environment import PROJECT_ROOT


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2):
    """Poll until `predicate()` is truthy; return its value or raise after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class WorkerPool:
    """A real `celery worker` subprocess for one queue, in its own process group."""

    def __init__(self, queue: str, concurrency: int = 2, env: dict | None = None) -> None:
        self.queue = queue
        self.concurrency = concurrency
        self.env = {**os.environ, **(env or {})}
        self.hostname = f"{queue}-{uuid.uuid4().hex[:8]}@test"
        self.proc: subprocess.Popen | None = None
        self.log_fd, self.log_path = tempfile.mkstemp(prefix=f"worker-{queue}-", suffix=".log")

    def start(self, wait: bool = True) -> WorkerPool:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "run.celery_app",
                "worker",
                "-Q",
                self.queue,
                "-c",
                str(self.concurrency),
                "-n",
                self.hostname,
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.log_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            wait_for(self.ready, timeout=60)
        return self

    def ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.output()
        return "ready." in self.output()

    def output(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def kill_hard(self) -> None:
        """SIGKILL the main process and every pool child at once, as a crash would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class WorkerPools:
    """Several `WorkerPool`s started and stopped together; `output()` joins their logs."""

    def __init__(self, *pools: WorkerPool) -> None:
        self.pools = pools

    def start(self) -> WorkerPools:
        for pool in self.pools:
            pool.start(wait=False)
        for pool in self.pools:
            wait_for(pool.ready, timeout=60)
        return self

    def output(self) -> str:
        return "\n".join(pool.output() for pool in self.pools)

    def stop(self) -> None:
        for pool in self.pools:
            pool.stop()


def process_tree(pid: int) -> list[psutil.Process]:
    """Return a process and all its descendants (for checking nothing outlives a stop)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def run_headless_locust(
    host: str, users: int, seconds: int, csv_prefix: Path, cwd: Path, env: dict
) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    """Run `locust -f test_load.py` headless; return the process (its stdout starting with
    the failures, if any) and its stats rows by name."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            "test_load.py",
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            host,
            "--csv",
            str(csv_prefix),
            "--only-summary",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows: dict[str, dict] = {}
    if Path(f"{csv_prefix}_stats.csv").exists():
        with open(f"{csv_prefix}_stats.csv") as stats:
            rows = {row["Name"]: row for row in csv.DictReader(stats)}
    failures = Path(f"{csv_prefix}_failures.csv")
    if failures.exists():  # keep the reasons where an assertion message shows them
        result.stdout = failures.read_text()[-2000:] + "\n" + result.stdout
    return result, rows
