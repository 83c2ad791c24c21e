"""Start and stop the stack's processes: gunicorn (real app or ceiling) and worker pools.

Every process runs in its own process group so that stopping it also stops its
children (gunicorn workers, prefork pool processes). `Processes.stop_all` runs on exit
and on SIGTERM/SIGHUP, so an interrupted benchmark leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests
from celery import Celery

from bench.settings import ROOT

GUNICORN_CONF = ROOT / "gunicorn.conf.py"
START_TIMEOUT = 90


class StackError(RuntimeError):
    """A process of the stack did not start or died."""


def log(message: str) -> None:
    """Progress goes to stderr; the report goes to stdout."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Child processes by name, each the leader of its own process group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        if name in self.running:
            raise StackError(f"{name} is already running")
        with (self.log_dir / f"{name}.log").open("ab") as log_file:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = proc
        return proc

    def output(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self, name: str, timeout: float = 30) -> None:
        """SIGTERM the leader (gunicorn's master, celery's main process: both shut down
        gracefully), then SIGKILL whatever is left of its group."""
        proc = self.running.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def alive(self, name: str) -> bool:
        proc = self.running.get(name)
        return proc is not None and proc.poll() is None

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name, timeout=15)


class WebServer:
    """gunicorn serving `wsgi_app` with gunicorn.conf.py's settings on a free port."""

    def __init__(self, processes: Processes, name: str, wsgi_app: str, env: dict) -> None:
        self.processes = processes
        self.name = name
        self.wsgi_app = wsgi_app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.proc: subprocess.Popen | None = None

    def start(self) -> WebServer:
        argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), self.wsgi_app]
        self.proc = self.processes.start(self.name, argv, self.env)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"{self.name} did not start:\n{self.processes.output(self.name)}")
            time.sleep(0.3)
        return self

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def workers(self) -> list[psutil.Process]:
        """The gunicorn worker processes (the master's children)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.proc.pid).children()
        return []

    def stop(self) -> None:
        self.processes.stop(self.name)
        self.proc = None


def read_pools() -> dict[str, tuple[str, int]]:
    """Pool name -> (queue, concurrency), from celery_config (environment overrides included)."""
    import celery_config

    return {
        pool: (queue, celery_config.pool_concurrency(pool))
        for pool, (queue, _default, _env_var) in celery_config.WORKER_POOLS.items()
    }


def storage_pool(pools: dict[str, tuple[str, int]]) -> str:
    """The pool whose queue the storage tasks are routed to."""
    import celery_config

    queue = celery_config.task_routes["process_event_batch"]["queue"]
    return next(pool for pool, (pool_queue, _c) in pools.items() if pool_queue == queue)


class WorkerPools:
    """The Celery pools, each started as production does: `start_celery_worker.sh POOL`."""

    def __init__(self, processes: Processes, env: dict, broker_url: str) -> None:
        self.processes = processes
        self.env = env
        self.pools = read_pools()
        self.storage = storage_pool(self.pools)
        self.suffix = env["WORKER_NODE_SUFFIX"]
        self.control = Celery("bench-control", broker=broker_url)

    def start(self, pool: str, wait: bool = True) -> None:
        name = f"pool-{pool}"
        if name in self.processes.running:
            return
        self.processes.start(name, ["bash", "start_celery_worker.sh", pool], self.env)
        if wait:
            self.wait_ready(pool)

    def wait_ready(self, pool: str) -> None:
        """Wait until the pool's node answers a ping over the broker."""
        node = f"{pool}@{self.suffix}"
        name = f"pool-{pool}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            proc = self.processes.running.get(name)
            if proc is None or proc.poll() is not None:
                raise StackError(f"pool {pool} exited:\n{self.processes.output(name)}")
            if self.control.control.ping(destination=[node], timeout=1.0):
                return
            if time.monotonic() > deadline:
                raise StackError(f"pool {pool} not ready:\n{self.processes.output(name)}")

    def start_all(self) -> None:
        for pool in self.pools:
            self.start(pool, wait=False)
        for pool in self.pools:
            self.wait_ready(pool)

    def stop(self, pool: str) -> None:
        self.processes.stop(f"pool-{pool}", timeout=60)

    def stop_all(self) -> None:
        for pool in self.pools:
            self.stop(pool)

    def running(self, pool: str) -> bool:
        return f"pool-{pool}" in self.processes.running

    def children(self, pool: str) -> list[psutil.Process]:
        """The pool's worker processes (children of the `celery worker` main process)."""
        proc = self.processes.running.get(f"pool-{pool}")
        if proc is None or proc.poll() is not None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(proc.pid).children()
        return []

    def close(self) -> None:
        self.control.close()
