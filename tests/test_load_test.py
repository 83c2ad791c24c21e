"""test_load.py against gunicorn and a real `default` pool: a short headless run in which
every user class sends requests and none fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench import workload
from tests.support.environment import PROJECT_ROOT
from tests.support.processes import run_headless_locust
from tests.support.servers import gunicorn

REQUEST_NAMES = {
    "MobileAppUser": "/api/logs/[app_id]",
    "SdkBatchUser": "/api/logs/[app_id]/batch",
    "DashboardReader (page)": "/apps/[app_id]/live",
    "DashboardReader (live stream)": "/api/apps/[app_id]/events?after=",
    "DashboardReader (stats)": "/api/apps/[app_id]/stats",
}


@pytest.fixture(scope="module")
def web_url(app, default_worker):
    """`gunicorn -c gunicorn.conf.py run:app` (2 workers) on the test database and broker."""
    with gunicorn(workers=2) as url:
        yield url


def test_headless_run_exercises_every_user_class_without_failures(
    web_url, make_tracked_app, tmp_path
):
    """The app and the viewer's session are made beforehand so the whole run is load; the
    standalone test covers test_load.py creating both itself."""
    prefix = tmp_path / "load"
    target = make_tracked_app(schemas={workload.EVENT_NAME: workload.SCHEMA})
    viewer = subprocess.run(
        [sys.executable, "-m", "bench.viewer_session", target["id"]],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    cookie = json.loads(viewer.stdout.strip().splitlines()[-1])["value"]
    env = {
        **os.environ,
        "LVD_APP_ID": target["id"],
        "LVD_INGEST_KEY": target["key"],
        "LVD_SESSION_COOKIE": cookie,
    }
    result, rows = run_headless_locust(web_url, 10, 6, prefix, PROJECT_ROOT, env)
    output = result.stdout[:3000] + result.stderr[-2000:]
    assert result.returncode == 0, output
    for user, name in REQUEST_NAMES.items():
        assert int(rows.get(name, {}).get("Request Count", 0)) > 0, f"{user} sent nothing\n{output}"
    assert int(rows["Aggregated"]["Failure Count"]) == 0, output
