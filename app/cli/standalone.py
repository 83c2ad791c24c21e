"""`python run.py`: everything on one machine with no server to install.

Runs migrations on SQLite, makes sure a demo app with a schema, a few minutes of demo
events and a demo developer who owns it exist, then starts gunicorn, the three worker
pools and beat as child processes on kombu's filesystem transport, prints the dashboard's
address, how to log in and send a first event, and stops them all on SIGTERM or Ctrl+C.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import settings
from app.config import PROJECT_ROOT

DEMO_APP = "demo"
DEMO_DEVELOPER = "demo@example.com"
DEMO_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "eventName": {"const": "user_login"},
        "userId": {"type": "integer", "minimum": 1},
        "method": {"enum": ["password", "google", "apple"]},
    },
    "required": ["eventName", "userId"],
}
# Lighter pools than production defaults: standalone runs on a laptop.
STANDALONE_CONCURRENCY = {
    "WORKER_DEFAULT_CONCURRENCY": "2",
    "WORKER_EMAILS_CONCURRENCY": "1",
    "WORKER_BATCH_CONCURRENCY": "1",
}
STOP_TIMEOUT_SECONDS = 20


def main() -> None:
    config = settings.load()
    host, port = config.HOST, config.PORT
    instance = Path(config.INSTANCE_PATH)
    instance.mkdir(parents=True, exist_ok=True)
    env = {**STANDALONE_CONCURRENCY, **os.environ, "INSTANCE_PATH": str(instance)}
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PUBLIC_URL", f"http://{host}:{port}")  # links in mails

    demo = prepare_database(instance)
    children = Children(env)
    signal.signal(signal.SIGTERM, children.stop_and_exit)
    signal.signal(signal.SIGINT, children.stop_and_exit)
    children.start_all(host, port)
    url = f"http://{host}:{port}"
    if not wait_until_up(f"{url}/health", children):
        children.stop_and_exit(exit_code=1)
    print_banner(url, demo, config)
    code = children.watch()
    children.stop_and_exit(exit_code=code)


def prepare_database(instance: Path) -> dict:
    """Apply migrations; return the demo app's id and key and the demo developer's login."""
    from flask_migrate import upgrade

    from app import create_app
    from app.cli.demo_events import seed_if_empty
    from app.models import App
    from app.store import catalog

    app = create_app()
    credentials_file = instance / "demo-app.json"
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        demo_app = App.lookup(DEMO_APP)
        saved = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
        if demo_app is None:
            demo_app, key = catalog.create_app(DEMO_APP)
        elif saved.get("app_id") == str(demo_app.id):
            key = saved["ingest_key"]
        else:
            key = catalog.rotate_key(demo_app)
        # Seed the demo schema once: a restart must never save it over a user's own version.
        if catalog.latest_schema(demo_app.id, "user_login") is None:
            catalog.set_schema(demo_app, "user_login", DEMO_SCHEMA)
        seed_if_empty(demo_app)  # a first look at the dashboard shows events, not empty pages
        password = ensure_demo_developer(demo_app, saved.get("password"))
        demo = {
            "app_id": str(demo_app.id),
            "ingest_key": key,
            "email": DEMO_DEVELOPER,
            "password": password,
        }
    credentials_file.write_text(json.dumps(demo))
    credentials_file.chmod(0o600)
    return demo


def ensure_demo_developer(demo_app, saved_password: str | None) -> str:
    """Make sure the confirmed demo developer exists and owns the demo app; return the password."""
    from app.auth import accounts
    from app.auth.passwords import hash_password, verify_password
    from app.extensions import db
    from app.models import User
    from app.models.types import utcnow
    from app.store import memberships

    user = accounts.find_user(DEMO_DEVELOPER)
    if user is None:
        user = User(email=DEMO_DEVELOPER, confirmed_at=utcnow(), session_epoch=0, is_admin=True)
        db.session.add(user)
    password = saved_password
    if not password or not verify_password(user.password_hash, password)[0]:
        password = secrets.token_urlsafe(12)
        user.password_hash = hash_password(password)
    db.session.commit()
    if memberships.role_of(user.id, demo_app.id) is None:
        memberships.add(demo_app.id, user, role="owner")
    return password


class Children:
    """The launcher's child processes, each in its own process group."""

    def __init__(self, env: dict) -> None:
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def start_all(self, host: str, port: int) -> None:
        from celery_config import WORKER_POOLS, worker_arguments

        python = sys.executable
        self.start(
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "run:app",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--max-requests",
                "10000",
                "--max-requests-jitter",
                "1000",
                "--graceful-timeout",
                "10",
                "--access-logfile",
                "-",
            ],
        )
        env = {**self.env, "WORKER_NODE_SUFFIX": "standalone"}
        for pool in WORKER_POOLS:
            self.start(pool, [python, "-m", "celery", *worker_arguments(pool, env=env)])
        self.start(
            "beat", [python, "-m", "celery", "-A", "run.celery_app", "beat", "--loglevel", "INFO"]
        )

    def start(self, name: str, command: list[str]) -> None:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.procs[name] = proc
        threading.Thread(target=_prefix_output, args=(name, proc), daemon=True).start()

    def watch(self) -> int:
        """Block until a child exits on its own; return an exit code for the launcher."""
        while not self.stopping:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    print(f"[launcher] {name} exited with {proc.returncode}; stopping", flush=True)
                    return 1
            time.sleep(0.5)
        return 0

    def stop_and_exit(self, *_signal_args, exit_code: int = 0) -> None:
        """Warm-stop every child, kill what outlives the timeout, then exit."""
        if self.stopping:
            return
        self.stopping = True
        print("[launcher] stopping…", flush=True)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the child stops its own workers warmly
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)  # stragglers: pool processes, if any
            proc.wait()
        print("[launcher] stopped", flush=True)
        sys.exit(exit_code)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the child if the launcher itself is killed (no-op elsewhere)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _prefix_output(name: str, proc: subprocess.Popen) -> None:
    for line in iter(proc.stdout.readline, b""):
        sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
        sys.stdout.flush()


def wait_until_up(health_url: str, children: Children, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if children.procs["web"].poll() is not None:
            return False
        try:
            with urllib.request.urlopen(health_url, timeout=2):
                return True
        except OSError as exc:  # HTTPError (503 while workers start) counts as up
            if getattr(exc, "code", None):
                return True
        time.sleep(0.3)
    return False


def print_banner(url: str, demo: dict, config: settings.Settings) -> None:
    mail_folder = Path(config.INSTANCE_PATH) / "mail"
    code_hint = (
        f"              then enter the 6-digit code mailed via {config.MAIL_SERVER}\n"
        if config.MAIL_SERVER
        else "              then enter the 6-digit code from the log line\n"
        f"              '[web] ... login code for {demo['email']}: NNNNNN'\n"
        f"              (no MAIL_SERVER: mails are .eml files in {mail_folder})\n"
    )
    curl = (
        f"curl -i -X POST {url}/api/logs/{demo['app_id']} "
        f"-H 'Content-Type: application/json' -H 'X-API-Key: {demo['ingest_key']}' "
        """-d '{"eventName": "user_login", "userId": 123}'"""
    )
    print(
        "\n"
        "Live Validation Dashboard is running (standalone: SQLite + filesystem broker)\n"
        f"  URL:        {url}\n"
        f"  Dashboard:  {url}/apps/{demo['app_id']}  (live stream: …/live)\n"
        f"  Health:     {url}/health\n"
        f"  Demo app:   {DEMO_APP}  id {demo['app_id']}\n"
        f"  Ingest key: {demo['ingest_key']}\n"
        f"  Log in:     {url}/auth/login  as {demo['email']} / {demo['password']}\n"
        f"{code_hint}"
        "  Send an event (expect 202):\n"
        f"    {curl}\n"
        "  Stop with Ctrl+C (or SIGTERM).\n",
        flush=True,
    )
