"""The web tier loads no worker code, and celery_config stands alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import PROJECT_ROOT

# Run in a fresh interpreter: the test session itself imports worker code.
_LOADED_BY_WEB = """
import json, sys
import celery
import run
app_modules = sorted(name for name in sys.modules if name == "app" or name.startswith("app."))
defining_tasks = sorted(
    name
    for name in app_modules
    if any(
        isinstance(value, celery.Task) or type(value).__name__ == "PromiseProxy"
        for value in vars(sys.modules[name]).values()
    )
)
client = run.app.extensions["celery"]
print(json.dumps({
    "modules": app_modules,
    "defining_tasks": defining_tasks,
    "registered": sorted(name for name in client.tasks if not name.startswith("celery.")),
}))
"""


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_importing_the_web_app_loads_no_worker_module_and_no_task():
    loaded = json.loads(_python(_LOADED_BY_WEB))
    assert "app.ingest.views" in loaded["modules"]  # the web app really was built
    assert [name for name in loaded["modules"] if name.startswith("app.worker")] == []
    assert loaded["defining_tasks"] == []
    assert loaded["registered"] == []  # the client submits by name only


def test_the_workers_celery_registers_every_task_named_in_celery_config():
    code = (
        "import json, run, celery_config\n"
        "names = sorted(n for n in run.celery_app.tasks if not n.startswith('celery.'))\n"
        "print(json.dumps([names, sorted(celery_config.task_routes)]))"
    )
    registered, routed = json.loads(_python(code))
    assert registered == routed


def test_celery_config_imports_nothing_from_app():
    code = (
        "import json, sys, celery_config\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'app' or m.startswith('app.'))))"
    )
    assert json.loads(_python(code)) == []


def test_app_keeps_few_modules_at_its_top_level():
    modules = sorted(path.name for path in (PROJECT_ROOT / "app").glob("*.py"))
    assert len(modules) <= 6, modules
