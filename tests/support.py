"""Test helpers: real worker processes, a cuttable TCP proxy, a private Redis, polling."""

from __future__ import annotations

import contextlib
import csv
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/lvd_test"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
BROKER_DB, RESULTS_DB, LIMITS_DB = 10, 11, 12

USER_LOGIN_SCHEMA = {
    "type": "object",
    "properties": {
        "eventName": {"const": "user_login"},
        "userId": {"type": "integer"},
        "method": {"enum": ["password", "google"]},
    },
    "required": ["eventName", "userId"],
}


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports_in_a_row(count: int) -> int:
    """The first of `count` consecutive free ports, below the kernel's ephemeral range
    (32768 and up), where outgoing connections of a busy test run cannot take them."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20000, 32000)
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError(f"no {count} consecutive free ports found")


@contextlib.contextmanager
def app_with(session_app, config: dict):
    """Build an app with its own settings; afterwards close its connections and make the
    session app's Celery the default again.

    Its "CELERY" URLs must win over CELERY_BROKER_URL / CELERY_RESULT_BACKEND, which the
    test session sets (`conf.broker_url` always echoes those variables; the URLs the app
    really uses are the read/write URLs and the backend's).
    """
    from app import create_app
    from app.extensions import db

    built = create_app(config)
    celery_app = built.extensions["celery"]
    overrides = config.get("CELERY", {})
    if "broker_url" in overrides:
        assert celery_app.conf.broker_write_url == overrides["broker_url"]
        assert celery_app.conf.broker_read_url == overrides["broker_url"]
    if "result_backend" in overrides:
        assert celery_app.backend.url == overrides["result_backend"]
    try:
        yield built
    finally:
        with built.app_context():
            db.engine.dispose()
        session_app.extensions["celery"].set_default()


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


class TcpProxy:
    """Forward a local port to a server; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.open:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        if not self.open:
            return
        self.open = False
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass


class PrivateRedis:
    """A redis-server of the test's own on a spare port, so it can be stopped safely."""

    def __init__(self, appendonly: bool = False) -> None:
        self.port = free_port()
        self.appendonly = appendonly  # with it, a restart (start() again) reloads the data
        self.dir = tempfile.mkdtemp(prefix="lvd-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=15)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def crash(self) -> None:
        """SIGKILL the server, keeping its files (start() again restarts it)."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


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


def make_record(app_id: str, **fields) -> dict:
    """A storage record as the ingest path builds it (override any field)."""
    record = {
        "id": str(uuid.uuid4()),
        "app_id": app_id,
        "client_event_id": None,
        "event_name": "user_login",
        "payload": {"eventName": "user_login"},
        "payload_hash": "0" * 64,
        "status": "valid",
        "errors": [],
        "schema_version": None,
        "client_ts": None,
        "received_at": "2026-11-21T12:30:15+00:00",
    }
    record.update(fields)
    return record


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb) on a spare port, so it can be
    stopped and restarted safely. Run as the `postgres` user when the tests run as root."""

    def __init__(self) -> None:
        import glob
        import pwd

        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="lvd-pg-")
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self.data = os.path.join(self.dir, "data")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PrivatePostgres:
        if not os.path.exists(self.data):
            self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-w", "-l", f"{self.dir}/log", "start")
        return self

    def crash(self) -> None:
        """Stop at once, as a crash would (committed work survives, sessions end)."""
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def stored_events(app, app_id: str, specs: list[dict]) -> list[str]:
    """Store events for the dashboard tests directly (time-ordered ids, received now).

    Each spec overrides make_record's fields, e.g. {"status": "invalid", "errors": [...]}.
    Returns the ids, oldest first.
    """
    from datetime import UTC, datetime

    import uuid_utils

    from app.store.events import store_events

    records = []
    for spec in specs:
        spec = dict(spec)
        name = spec.pop("event_name", "user_login")
        records.append(
            make_record(
                app_id,
                id=str(uuid_utils.uuid7()),
                event_name=name,
                payload=spec.pop("payload", {"eventName": name}),
                received_at=datetime.now(UTC).isoformat(),
                **spec,
            )
        )
    with app.app_context():
        store_events(records)
    return [record["id"] for record in records]


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


@contextlib.contextmanager
def admin_connection(database: str = "postgres", server_url: str | None = None):
    """An autocommit psycopg2 connection to `database` on the server of `server_url`
    (the test server by default), for ALTER DATABASE, CREATE DATABASE and held locks."""
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(server_url or TEST_DATABASE_URL)
    connection = psycopg2.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=database,
    )
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


def recreate_database(url: str) -> None:
    """Drop and create the database named by `url` (its server must answer)."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with admin_connection(server_url=url) as admin, admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=5).status_code in (200, 503)
    except requests.RequestException:
        return False


@contextlib.contextmanager
def gunicorn(env: dict | None = None, workers: int = 2) -> Iterator[str]:
    """`gunicorn -c gunicorn.conf.py run:app` on a free loopback port; yield its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
    full_env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_ACCESS_LOG": "",
        **(env or {}),
    }
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes its own
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "run:app"],
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: proc.poll() is not None or _answers(url), timeout=60)
        assert proc.poll() is None, log_path.read_text()
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def uuid7_at(moment, rng) -> str:
    """A UUIDv7 made at `moment` (random bits from `rng`), as the ingest path makes them."""
    milliseconds = int(moment.timestamp() * 1000)
    return str(uuid.UUID(int=(milliseconds << 80) | (0x7 << 76) | rng.getrandbits(62)))
