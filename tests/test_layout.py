"""The web tier loads no worker code, and celery_config stands alone."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from tests.support.environment import PROJECT_ROOT

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


# --- The import graph, read from the source (ast): imports run one way. ----------------
APP_ROOT = PROJECT_ROOT / "app"


def _module_name(path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path) -> set[str]:
    """Every `app…` module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "app" or node.module.startswith("app."):
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "app")
    return found


def _package(module: str) -> str:
    """`app.store.reads.events` -> `app.store`; top-level modules are packages of their own."""
    return ".".join(module.split(".")[:2])


MODULES = {_module_name(path): path for path in APP_ROOT.rglob("*.py")}
IMPORTS = {name: {m for m in _imports_of(path) if m in MODULES} for name, path in MODULES.items()}


def _imported_by(package: str) -> set[str]:
    return {
        target
        for module, targets in IMPORTS.items()
        if _package(module) == package
        for target in targets
    }


def test_extensions_imports_nothing_from_app():
    assert IMPORTS["app.extensions"] == set()


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("app.store", {"app.ingest", "app.dashboard", "app.worker", "app.background"}),
        ("app.worker", {"app.auth", "app.dashboard", "app.ingest"}),
        ("app.celery_client", {"app.ingest", "app.worker", "app.mail"}),
        ("app.models", {"app.store", "app.ingest", "app.worker", "app.background"}),
        ("app.validation", {"app.ingest", "app.store", "app.models"}),
        ("app.mail", {"app.auth", "app.dashboard", "app.worker"}),
        ("app.ops", {"app.ingest", "app.dashboard", "app.worker"}),
    ],
)
def test_a_package_never_imports_the_layers_above_it(package, forbidden):
    reached = {_package(target) for target in _imported_by(package)}
    assert reached & forbidden == set()


def test_no_import_cycle_between_packages():
    """Packages form a DAG. The root package (`app/__init__.py`, the application factory)
    is the composition root: it imports every package, and only the CLI imports it back
    (to build apps), so it is left out of the graph."""
    graph: dict[str, set[str]] = {}
    for module, targets in IMPORTS.items():
        source = _package(module)
        if source == "app":
            continue
        graph.setdefault(source, set()).update(
            _package(t) for t in targets if _package(t) not in ("app", source)
        )
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            cycles.append(trail[trail.index(node) :] + [node])
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*trail, node])

    for start in sorted(graph):
        visit(start, [])
    assert cycles == []


def test_only_the_cli_imports_the_application_factory():
    importers = sorted(m for m, targets in IMPORTS.items() if "app" in targets)
    assert [m for m in importers if _package(m) != "app.cli"] == []


def test_no_folder_holds_more_than_twelve_modules():
    crowded = {
        str(folder.relative_to(PROJECT_ROOT)): count
        for folder in [APP_ROOT, *(p for p in APP_ROOT.rglob("*") if p.is_dir())]
        if (count := len([p for p in folder.glob("*.py") if p.name != "__init__.py"])) > 12
    }
    assert crowded == {}
