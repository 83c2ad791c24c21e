"""`python run.py` from a fresh copy: serves a 202, stores the event, survives a short load
run with zero failures, and stops cleanly on SIGTERM sent to the launcher alone."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
import requests

from tests.support.environment import PROJECT_ROOT
from tests.support.processes import process_tree, run_headless_locust, wait_for
from tests.support.servers import free_port

SERVER_SETTINGS = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "REDIS_URL",
    "INSTANCE_PATH",
    "REGISTRY_REFRESH_SECONDS",
    "STORAGE_RETRY_BACKOFF",
    "LOG_LEVEL",
    "MAIL_SERVER",
    "MAIL_PORT",
    "PUBLIC_URL",
)
IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "instance", "__pycache__", ".pytest_cache", ".ruff_cache", ".bench"
)


class Launcher:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in SERVER_SETTINGS}
        self.env = {**env, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "run.py"],
            cwd=root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def demo(self) -> dict:
        return json.loads((self.root / "instance" / "demo-app.json").read_text())

    def stored_event(self, event_id: str):
        with sqlite3.connect(self.root / "instance" / "lvd.sqlite3") as conn:
            return conn.execute(
                "SELECT status, event_name FROM events WHERE replace(id, '-', '') = ?",
                (event_id.replace("-", ""),),
            ).fetchone()


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    root = tmp_path_factory.mktemp("standalone") / "lvd"
    shutil.copytree(PROJECT_ROOT, root, ignore=IGNORED)
    running = Launcher(root)
    try:
        wait_for(
            lambda: "Ingest key:" in running.output() or running.proc.poll() is not None,
            timeout=120,
        )
        assert running.proc.poll() is None, running.output()
        yield running
    finally:
        if running.proc.poll() is None:
            for process in process_tree(running.proc.pid)[::-1]:
                process.kill()


def test_prints_url_key_and_a_ready_curl(launcher):
    output = launcher.output()
    demo = launcher.demo()
    assert launcher.url in output
    assert demo["app_id"] in output and demo["ingest_key"] in output
    assert f"curl -i -X POST {launcher.url}/api/logs/{demo['app_id']}" in output


def test_serves_202_and_stores_the_event(launcher):
    demo = launcher.demo()
    response = requests.post(
        f"{launcher.url}/api/logs/{demo['app_id']}",
        json={"eventName": "user_login", "userId": 123},
        headers={"X-API-Key": demo["ingest_key"]},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "valid"
    row = wait_for(lambda: launcher.stored_event(body["event_id"]), timeout=60)
    assert row == ("valid", "user_login")


# test_load.py's own code makes the app and schema through the CLI; run before the timed
# window, because on a machine busy with other test suites the two `flask` processes (each
# waiting on SQLite while the launcher writes) once took all of a 30 s run.
MAKE_TARGET = (
    "import json, test_load; test_load.create_app_and_schema(); print(json.dumps(test_load.TARGET))"
)


def test_short_headless_load_run_has_zero_failures(launcher, tmp_path):
    made = subprocess.run(
        [sys.executable, "-c", MAKE_TARGET],
        cwd=launcher.root,
        env=launcher.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    target = json.loads(made.stdout.strip().splitlines()[-1])
    assert target["app_id"] and target["key"], target
    env = {**launcher.env, "LVD_APP_ID": target["app_id"], "LVD_INGEST_KEY": target["key"]}
    # The viewer's session is still made by test_load.py within the run.
    result, rows = run_headless_locust(launcher.url, 5, 15, tmp_path / "load", launcher.root, env)
    output = result.stdout[:3000] + result.stderr[-2000:]
    assert result.returncode == 0, output
    assert int(rows["Aggregated"]["Request Count"]) > 0, output
    assert int(rows["Aggregated"]["Failure Count"]) == 0, output
    # The session maker can outlive a short run on a busy machine; it is the run's, not the
    # launcher's, so it must end before the SIGTERM test looks for leftovers.
    wait_for(lambda: not helpers_of_the_run(launcher), timeout=120)


def helpers_of_the_run(launcher) -> list[int]:
    """Processes started in the copy that are not the launcher's (the load run's own)."""
    launched = {process.pid for process in process_tree(launcher.proc.pid)}
    return [
        process.pid
        for process in psutil.process_iter(["cwd"])
        if (process.info["cwd"] or "").startswith(str(launcher.root))
        and process.pid not in launched
    ]


def test_the_demo_developer_logs_in_with_the_logged_code_and_sees_the_demo_app(launcher):
    demo = launcher.demo()
    assert f"as {demo['email']} / {demo['password']}" in launcher.output()
    browser = requests.Session()

    def post_form(path: str, fields: dict) -> requests.Response:
        form_page = browser.get(f"{launcher.url}{path}", timeout=10).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form_page).group(1)
        return browser.post(
            f"{launcher.url}{path}", data={"csrf_token": token, **fields}, timeout=30
        )

    step_one = post_form("/auth/login", {"email": demo["email"], "password": demo["password"]})
    assert step_one.url == f"{launcher.url}/auth/otp", step_one.text[-1500:]
    logged_code = re.compile(rf"login code for {re.escape(demo['email'])}: (\d{{6}})")
    logged = wait_for(lambda: logged_code.search(launcher.output()), timeout=30)
    apps_page = post_form("/auth/otp", {"code": logged.group(1)})
    assert apps_page.url == f"{launcher.url}/apps"
    assert f'href="/apps/{demo["app_id"]}">demo</a>' in apps_page.text
    wait_for(lambda: list((launcher.root / "instance" / "mail").glob("*.eml")), timeout=30)


def test_stops_cleanly_on_sigterm_to_the_launcher_alone(launcher):
    started = process_tree(launcher.proc.pid)
    assert len(started) >= 6, "web, three pools and beat should be running"
    os.kill(launcher.proc.pid, signal.SIGTERM)
    assert launcher.proc.wait(timeout=60) == 0, launcher.output()[-3000:]

    def gone(process: psutil.Process) -> bool:
        try:
            return process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(lambda: all(gone(p) for p in started), timeout=15)
    leftovers = [
        p.info
        for p in psutil.process_iter(["pid", "cwd", "cmdline"])
        if p.info["cwd"] and p.info["cwd"].startswith(str(launcher.root))
    ]
    assert leftovers == []


def test_the_demo_app_starts_with_minutes_of_mixed_events_and_the_banner_names_the_dashboard(
    launcher,
):
    demo = launcher.demo()
    assert f"Dashboard:  {launcher.url}/apps/{demo['app_id']}" in launcher.output()
    with sqlite3.connect(launcher.root / "instance" / "lvd.sqlite3") as conn:
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM events WHERE replace(app_id, '-', '') = ? "
                "GROUP BY status",
                (demo["app_id"].replace("-", ""),),
            ).fetchall()
        )
        counted = conn.execute("SELECT sum(count) FROM event_counts").fetchone()[0]
        minutes = conn.execute("SELECT count(DISTINCT minute) FROM event_counts").fetchone()[0]
    assert set(statuses) == {"valid", "invalid", "unplanned"}, statuses
    assert sum(statuses.values()) >= 300 and counted >= 300
    assert minutes >= 5  # a few minutes of history: the chart has a shape


def test_a_restart_keeps_the_users_edit_of_the_demo_schema(tmp_path):
    """The demo schema is seeded once: a v2 the user saved stays the newest after a restart."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_SETTINGS}
    env["INSTANCE_PATH"] = str(tmp_path)
    prepare = "from app.cli.standalone import prepare_database as p; from pathlib import Path; "
    prepare += f"p(Path({str(tmp_path)!r}))"
    edit = (
        "from app import create_app; from app.models import App; from app.store import catalog\n"
        "with create_app().app_context():\n"
        "    s = dict(catalog.latest_schema(App.lookup('demo').id, 'user_login').schema)\n"
        "    s['required'] = ['eventName', 'userId', 'method']\n"
        "    catalog.set_schema(App.lookup('demo'), 'user_login', s)\n"
    )
    for code in (prepare, edit, prepare):
        subprocess.run(
            [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, check=True, timeout=120
        )
    with sqlite3.connect(tmp_path / "lvd.sqlite3") as conn:
        versions = conn.execute(
            "SELECT version, schema FROM event_schemas WHERE event_name = 'user_login' "
            "ORDER BY version"
        ).fetchall()
    assert [version for version, _ in versions] == [1, 2]
    assert json.loads(versions[-1][1])["required"] == ["eventName", "userId", "method"]
