"""Production start options: start_celery_worker.sh --autoscale (min,max per pool from the
environment, refused with the reason when malformed), a pool's metrics port and folder,
and gunicorn's worker recycling with jitter."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from tests.ops.conftest import ScriptPool, scrape, value
from tests.support.environment import PROJECT_ROOT
from tests.support.servers import free_ports_in_a_row

SCRIPT = str(PROJECT_ROOT / "start_celery_worker.sh")


def test_autoscale_takes_min_and_max_from_the_environment():
    pool = ScriptPool("emails", {"WORKER_EMAILS_AUTOSCALE": "1,3"}, options=("--autoscale",))
    try:
        pool.start()
        cmdline = psutil.Process(pool.proc.pid).cmdline()
        assert cmdline[cmdline.index("--autoscale") + 1] == "3,1"  # Celery's order: max,min
        assert "-c" not in cmdline
        assert "{min=1, max=3}" in pool.output()
    finally:
        pool.stop()


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("8", '"min,max" processes'),
        ("two,eight", '"min,max" processes'),
        ("4,2", "min <= max"),
        ("0,0", "max >= 1"),
    ],
)
def test_autoscale_refuses_malformed_bounds(setting, reason):
    result = subprocess.run(
        ["bash", SCRIPT, "--autoscale", "default"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "WORKER_DEFAULT_AUTOSCALE": setting, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "WORKER_DEFAULT_AUTOSCALE" in result.stderr and reason in result.stderr


def test_a_pool_serves_its_metrics_on_the_base_port_plus_its_index():
    base_port = free_ports_in_a_row(3)  # batch_processing serves on base_port + 2
    folder = Path(tempfile.mkdtemp(prefix="lvd-worker-metrics-"))
    (folder / "batch_processing").mkdir()
    stale = folder / "batch_processing" / "counter_1.db"
    stale.write_bytes(b"left by an earlier run")
    pool = ScriptPool(
        "batch_processing",
        {"WORKER_METRICS_PORT": str(base_port), "WORKER_METRICS_DIR": str(folder)},
    )
    try:
        pool.start()
        assert not stale.exists()
        scraped = scrape(f"http://127.0.0.1:{base_port + 2}/metrics")  # index 2
        assert value(scraped, "lvd_events_stored_total") == 0
        assert any(path.suffix == ".db" for path in (folder / "batch_processing").iterdir())
    finally:
        pool.stop()


def test_gunicorn_recycles_workers_with_jitter():
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config", "run:app"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    settings = dict(
        (name.strip(), setting.strip())
        for name, _, setting in (line.partition("=") for line in result.stdout.splitlines())
    )
    assert int(settings["max_requests"]) > 0
    assert 0 < int(settings["max_requests_jitter"]) < int(settings["max_requests"])
