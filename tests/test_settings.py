"""settings.py: the values users paste, bad values that stop a process at start, former
names, the generated reference, and a scan that finds every variable the code reads."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import celery_config
import settings
from app.config import Config
from tests.support.environment import PROJECT_ROOT


def config_from(tmp_path: Path, **variables: str) -> Config:
    """The app's settings from these variables alone (not this process's environment)."""
    return Config({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k", **variables})


# --- Values users paste ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pasted", "uri"),
    [
        ("postgresql://u:p@db:5432/lvd", "postgresql+psycopg2://u:p@db:5432/lvd"),
        ("postgres://u:p@db/lvd", "postgresql+psycopg2://u:p@db/lvd"),
        ("postgresql+psycopg2://u:p@db/lvd", "postgresql+psycopg2://u:p@db/lvd"),
        ("sqlite:////tmp/lvd.sqlite3", "sqlite:////tmp/lvd.sqlite3"),
    ],
)
def test_every_database_url_form_users_paste_is_accepted(tmp_path, pasted, uri):
    assert uri == config_from(tmp_path, DATABASE_URL=pasted).SQLALCHEMY_DATABASE_URI


@pytest.mark.parametrize(
    ("pasted", "value"),
    [*((text, True) for text in ("1", "true", "TRUE", "yes", "on")), ("0", False)]
    + [(text, False) for text in ("false", "no", "off", "Off")],
)
def test_booleans_take_the_usual_spellings(tmp_path, pasted, value):
    assert config_from(tmp_path, MAIL_USE_TLS=pasted).MAIL_USE_TLS is value


@pytest.mark.parametrize(
    ("pasted", "size"),
    [("1048576", 1048576), ("1MB", 1048576), ("512KB", 524288), ("1 MiB", 1048576), ("2M", 2**21)],
)
def test_byte_sizes_take_plain_integers_and_units(tmp_path, pasted, size):
    assert size == config_from(tmp_path, MAX_REQUEST_BYTES=pasted).MAX_CONTENT_LENGTH


def test_defaults_are_those_of_before(tmp_path):
    config = config_from(tmp_path)
    assert (config.MAX_EVENT_BYTES, config.MAX_REQUEST_BYTES) == (32768, 1048576)
    assert (config.MAX_BATCH_EVENTS, config.MAX_NESTING_DEPTH) == (500, 32)
    assert config.INGEST_RATE_LIMIT == "5000/second"
    assert config.PUBLIC_URL == "http://127.0.0.1:8000"
    assert config.SESSION_COOKIE_NAME == "session" and config.SESSION_COOKIE_SECURE is False
    assert (config.MAIL_PORT, config.MAIL_SERVER, config.POLL_TRUST_SECONDS) == (25, None, 5.0)
    assert config.RATELIMIT_STORAGE_URI == "memory://"
    assert str(tmp_path.resolve() / "exports") == config.EXPORT_DIR
    assert f"sqlite:///{tmp_path.resolve() / 'lvd.sqlite3'}" == config.SQLALCHEMY_DATABASE_URI
    assert config.CELERY_BROKER_URL == "filesystem://"
    assert f"file://{tmp_path.resolve() / 'celery-results'}" == config.CELERY_RESULT_BACKEND
    sizes = [celery_config.pool_concurrency(pool, {}) for pool in celery_config.WORKER_POOLS]
    assert sizes == [8, 2, 1, 1]


def test_defaults_derived_from_other_settings(tmp_path):
    config = config_from(
        tmp_path,
        CELERY_BROKER_URL="redis://r:6379/0",
        LVD_PROFILE="metered",
        PUBLIC_URL="https://lvd.example.com/",
        STORAGE_SOFT_TIME_LIMIT="100",
    )
    assert config.CELERY_RESULT_BACKEND == "redis://127.0.0.1:6379/1"
    assert (config.CELERY_CONSUMER_TTL, config.CELERY_RESTORE_INTERVAL) == (3600, 3600)
    assert config.WORKER_TASK_EVENTS == ()
    assert config.PUBLIC_URL == "https://lvd.example.com"
    assert config.SESSION_COOKIE_NAME == "__Host-session"
    assert config.STORAGE_STATEMENT_TIMEOUT_MS == 80_000


@pytest.mark.parametrize(
    ("variables", "name", "value"),
    [
        ({"REDIS_URL": ""}, "REDIS_URL", None),  # empty counts as unset...
        ({"WORKER_DEFAULT_CONCURRENCY": ""}, "WORKER_DEFAULT_CONCURRENCY", 8),
        ({"GUNICORN_ACCESS_LOG": ""}, "GUNICORN_ACCESS_LOG", ""),  # ...unless empty means none
        ({"WORKER_TASK_EVENTS": ""}, "WORKER_TASK_EVENTS", ()),
    ],
)
def test_an_empty_value_is_unset_unless_empty_means_something(tmp_path, variables, name, value):
    assert getattr(config_from(tmp_path, **variables), name) == value


# --- Bad values stop the process at start, with one line naming the variable ---------------
def run_python(code: str, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LOG_LEVEL": "ERROR", **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "bad", "expects"),
    [
        ("WORKER_DEFAULT_CONCURRENCY", "abc", "must be an integer >= 1"),
        ("MAX_REQUEST_BYTES", "1XB", "must be a size in bytes"),
        ("MAIL_USE_TLS", "maybe", "must be a boolean"),
        ("MAIL_PORT", "70000", "must be a port number"),
        ("INGEST_RATE_LIMIT", "fast", "must be a rate limit"),
        ("DATABASE_URL", "localhost/lvd", "must be a URL"),
        ("PUBLIC_URL", "lvd.example.com", "must be an http:// or https:// URL"),
        ("STORAGE_RETRY_BACKOFF", "-1", "must be a number of seconds >= 0"),
        ("WORKER_EMAILS_AUTOSCALE", "4,2", 'must be "min,max" with 0 <= min <= max'),
        ("LVD_PROFILE", "cheap", "must be standard or metered"),
        ("DIGEST_HOUR_UTC", "24", "must be an hour, 0-23"),
    ],
)
def test_a_bad_value_stops_the_web_app_with_one_line_naming_it(name, bad, expects):
    result = run_python("import run", **{name: bad})
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"LVD configuration error: {name} {expects}")
    assert line.endswith(f"(got {bad!r})")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", "import celery_config"],
        [sys.executable, "celery_config.py", "pools"],
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config", "run:app"],
        [sys.executable, "-m", "celery", "-A", "run.celery_app", "inspect", "ping"],
        ["bash", "start_celery_worker.sh", "default"],
    ],
)
def test_every_process_refuses_a_bad_value_before_it_starts(command):
    result = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHON": sys.executable, "WORKER_DEFAULT_CONCURRENCY": "abc"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    expected = "LVD configuration error: WORKER_DEFAULT_CONCURRENCY must be an integer >= 1"
    assert f"{expected} (got 'abc')" in result.stderr.splitlines()


# --- Former names and constants ------------------------------------------------------------
@pytest.fixture
def fresh_warnings(monkeypatch, caplog):
    """Each former name warns once per process: forget the ones this process warned about."""
    monkeypatch.setattr(settings, "_warned", set())
    caplog.set_level(logging.WARNING, logger="lvd.settings")
    return caplog


@pytest.mark.parametrize(
    ("former", "name", "old_value", "new_value"),
    [
        ("MEMBERSHIP_CACHE_SECONDS", "POLL_TRUST_SECONDS", 3.0, 0.5),
        ("FLOWER_URL", "DASHBOARD_FLOWER_URL", "https://old.example.com", "https://new.example"),
        ("CELERY_LOGLEVEL", "WORKER_LOG_LEVEL", "WARNING", "ERROR"),
    ],
)
def test_a_former_name_is_still_read_with_a_warning_naming_the_new_one(
    tmp_path, fresh_warnings, former, name, old_value, new_value
):
    assert getattr(config_from(tmp_path, **{former: str(old_value)}), name) == old_value
    assert f"{former} is deprecated: set {name} instead" in fresh_warnings.text
    both = {former: str(old_value), name: str(new_value)}
    assert getattr(config_from(tmp_path, **both), name) == new_value  # the new name wins


def test_the_workers_log_level_still_takes_its_former_name(fresh_warnings):
    arguments = celery_config.worker_arguments("default", env={"CELERY_LOGLEVEL": "WARNING"})
    assert arguments[arguments.index("--loglevel") + 1] == "WARNING"


def test_a_setting_that_became_a_constant_is_reported_as_ignored(tmp_path, fresh_warnings):
    assert config_from(tmp_path, RETRY_AFTER_SECONDS="9").RETRY_AFTER_SECONDS == 5
    assert "RETRY_AFTER_SECONDS is no longer read" in fresh_warnings.text


# --- Nothing on disk at import ---------------------------------------------------------------
def test_importing_celery_config_creates_nothing_and_the_app_creates_its_folders(tmp_path):
    instance = tmp_path / "instance"
    standalone = {"INSTANCE_PATH": str(instance), "SECRET_KEY": "k"}
    standalone |= {"CELERY_BROKER_URL": "", "CELERY_RESULT_BACKEND": ""}  # unset: standalone
    assert run_python("import celery_config", **standalone).returncode == 0
    assert not instance.exists()
    assert run_python("import run", **standalone).returncode == 0
    assert {"queue", "control", "processed"} <= {p.name for p in (instance / "broker").iterdir()}
    assert (instance / "celery-results").is_dir()


# --- The reference: generated, complete, and what .env.example holds -------------------------
def test_the_committed_reference_is_the_generated_one():
    committed = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    assert committed == settings.reference(), "run: python settings.py docs > docs/configuration.md"


def test_every_setting_has_a_description_and_a_process():
    for group in settings.GROUPS:
        for name, field in group.model_fields.items():
            assert field.description, name
            assert name in settings.Settings.model_fields
    assert sum(len(group.model_fields) for group in settings.GROUPS) == len(
        settings.Settings.model_fields
    )


def test_env_example_holds_a_few_documented_settings_that_load():
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    pairs = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert 6 <= len(pairs) <= 15  # the few a deployment sets, not the reference
    assert set(pairs) <= set(settings.Settings.model_fields)
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "PUBLIC_URL"} <= set(pairs)
    settings.load(pairs)  # every example value is valid


# Variables the code reads that are not the product's settings, each with its reason.
NOT_SETTINGS = {
    "PATH": "bench/settings.py puts the venv first for the stack's processes",
    "PYTHONUNBUFFERED": "the standalone launcher sets it for its children's log lines",
    "TMPDIR": "the system's temporary folder (start_celery_worker.sh's default metrics folder)",
    "BASH_SOURCE": "bash's own variable (scripts/bootstrap.sh, scripts/services.sh)",
    "SECONDS": "bash's own variable: seconds since the script started (scripts/cluster.sh)",
    "PWD": "the shell's own variable: the current folder (scripts/cluster.sh)",
}
# os.environ.get/[...]/pop, os.getenv, env.get (a mapping of the environment), _env_int(...)
PYTHON_READ = re.compile(
    r"""(?:environ|env)\w*\s*(?:\.get|\.setdefault|\.pop)?[(\[]\s*["']([A-Z][A-Z0-9_]*)["']"""
)
SHELL_READ = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)(:?[-=])?")
SHELL_ASSIGNED = re.compile(
    r"(?:^|[\s;(])(?:export\s+|local\s+|declare\s+-\w+\s+)?([A-Z_][A-Z0-9_]*)(?:=|\[)"
    r"|\b(?:read\s+-r|mapfile\s+-t|for)\s+([A-Z_][A-Z0-9_ ]*)"
)


def variables_read(path: Path) -> set[str]:
    """The environment variables a Python or shell file reads, by name."""
    text = path.read_text()
    if path.suffix == ".py":
        return set(PYTHON_READ.findall(text))
    assigned = {
        name for one, many in SHELL_ASSIGNED.findall(text) for name in (one or many).split()
    }
    return {name for name, default in SHELL_READ.findall(text) if default or name not in assigned}


def sources() -> list[Path]:
    """Every file of the product and its tools that may read the environment."""
    top = ["celery_config.py", "gunicorn.conf.py", "run.py", "test_load.py"]
    top += ["start_celery_worker.sh", "start_flower.sh"]
    return [
        *(PROJECT_ROOT / name for name in top),
        *sorted((PROJECT_ROOT / "app").rglob("*.py")),
        *sorted((PROJECT_ROOT / "bench").rglob("*.py")),
        *sorted((PROJECT_ROOT / "scripts").glob("*.sh")),
    ]


def test_the_code_reads_no_variable_the_reference_does_not_document():
    documented = settings.documented_variables() | set(NOT_SETTINGS)
    undocumented = {
        f"{path.relative_to(PROJECT_ROOT)}: {name}"
        for path in sources()
        for name in variables_read(path)
        if name not in documented
    }
    assert undocumented == set()


def test_the_scan_finds_the_reads_it_must(tmp_path):
    python = tmp_path / "reader.py"
    python.write_text(
        'a = os.environ.get("ONE")\nb = os.environ["TWO"]\nc = os.getenv("THREE")\n'
        'd = env.get("FOUR", 1)\ne = _env_int("FIVE", 3)\nrequest.environ["wsgi.input"]\n'
    )
    shell = tmp_path / "reader.sh"
    shell.write_text(
        'X="${SHELL_ONE:-1}"\necho "$SIX"\nLOCAL=1\necho "$LOCAL ${LOCAL}"\n'
        'SEVEN="${SEVEN:-2}"\nread -r A B <<<"1 2"\necho "$A$B"\n'
    )
    assert variables_read(python) == {"ONE", "TWO", "THREE", "FOUR", "FIVE"}
    assert variables_read(shell) == {"SHELL_ONE", "SIX", "SEVEN"}
    found = set().union(*(variables_read(path) for path in sources()))
    assert {"FLOWER_BASIC_AUTH", "PROMETHEUS_MULTIPROC_DIR", "TEST_DATABASE_URL"} <= found
