"""The management CLI: `flask apps …`, `flask schemas …`, `flask events …`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from app.models import App
from app.store import catalog
from tests.support.environment import PROJECT_ROOT
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.processes import wait_for


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(args=list(args))
        assert result.exit_code == code, result.output
        return result

    return invoke


def invoke_json(cli, *args: str, code: int = 0) -> dict:
    result = cli(*args, "--json", code=code)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def unique_name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def created(cli) -> dict:
    return invoke_json(cli, "apps", "create", unique_name())


@pytest.fixture
def schema_file(tmp_path):
    def write(content: object | str, name: str = "schema.json"):
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    return write


def post(client, app_id: str, key: str, event: dict):
    response = client.post(f"/api/logs/{app_id}", json=event, headers={"X-API-Key": key})
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def test_apps_create_prints_one_json_object(app, cli):
    name = unique_name()
    data = invoke_json(cli, "apps", "create", name)
    assert set(data) == {"id", "name", "ingest_key"}
    assert data["name"] == name
    assert str(uuid.UUID(data["id"])) == data["id"]
    assert data["ingest_key"].startswith("lvd_") and len(data["ingest_key"]) > 40
    with app.app_context():
        assert App.lookup(name).id == uuid.UUID(data["id"])


def test_apps_create_text_output_shows_the_key_once(cli):
    result = cli("apps", "create", unique_name())
    assert "ingest key: lvd_" in result.output
    assert "cannot be shown again" in result.output


def test_created_key_works_for_ingest(client, created):
    answer = post(client, created["id"], created["ingest_key"], {"eventName": "screen_view"})
    assert answer["status"] == "unplanned"


def test_apps_create_with_a_rate_limit(app, cli):
    data = invoke_json(cli, "apps", "create", unique_name(), "--rate-limit", "10/second")
    with app.app_context():
        assert App.lookup(data["id"]).rate_limit == "10/second"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "lots"], "invalid rate limit"),
        (["--rate-limit", "10 per fortnight"], "invalid rate limit"),
    ],
)
def test_apps_create_refuses_bad_options(app, cli, args, message):
    name = unique_name()
    data = invoke_json(cli, "apps", "create", name, *args, code=1)
    assert message in data["error"]
    with app.app_context():
        assert App.lookup(name) is None


@pytest.mark.parametrize("name", ["", "   ", "x" * 121])
def test_apps_create_refuses_bad_names(cli, name):
    data = invoke_json(cli, "apps", "create", name, code=1)
    assert "1 to 120 characters" in data["error"]


def test_duplicate_app_name_fails(cli, created):
    data = invoke_json(cli, "apps", "create", created["name"], code=1)
    assert data == {"error": f"an app named {created['name']!r} already exists"}

    result = cli("apps", "create", created["name"], code=1)
    assert "Error:" in result.output and "already exists" in result.output


@pytest.mark.parametrize("ref", ["name", "id"])
def test_apps_rotate_key_by_name_and_by_id(client, cli, created, ref):
    data = invoke_json(cli, "apps", "rotate-key", created[ref])
    assert data["id"] == created["id"]
    assert data["name"] == created["name"]
    assert data["ingest_key"].startswith("lvd_")
    assert data["ingest_key"] != created["ingest_key"]

    old = client.post(
        f"/api/logs/{created['id']}",
        json={"eventName": "x"},
        headers={"X-API-Key": created["ingest_key"]},
    )
    assert old.status_code == 401
    post(client, created["id"], data["ingest_key"], {"eventName": "x"})


def test_unknown_app_fails_cleanly(cli):
    for command in (["apps", "rotate-key"], ["schemas", "list"], ["events", "stats"]):
        data = invoke_json(cli, *command, "no-such-app", code=1)
        assert data == {"error": "no app with id or name 'no-such-app'"}


def test_apps_list_includes_created_apps(cli, created):
    data = invoke_json(cli, "apps", "list")
    assert {"id": created["id"], "name": created["name"]}.items() <= next(
        row for row in data["apps"] if row["id"] == created["id"]
    ).items()


def test_schemas_set_versions_only_on_change(app, cli, created, schema_file):
    path = schema_file(USER_LOGIN_SCHEMA)
    first = invoke_json(cli, "schemas", "set", created["name"], "user_login", path)
    assert first == {
        "app_id": created["id"],
        "event_name": "user_login",
        "version": 1,
        "created": True,
    }

    again = invoke_json(cli, "schemas", "set", created["id"], "user_login", path)
    assert (again["version"], again["created"]) == (1, False)
    assert "(unchanged)" in cli("schemas", "set", created["id"], "user_login", path).output

    changed = {**USER_LOGIN_SCHEMA, "required": ["eventName", "userId", "method"]}
    second = invoke_json(
        cli, "schemas", "set", created["id"], "user_login", schema_file(changed, "v2.json")
    )
    assert (second["version"], second["created"]) == (2, True)
    with app.app_context():
        latest = catalog.latest_schema(uuid.UUID(created["id"]), "user_login")
        assert (latest.version, latest.schema) == (2, changed)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"type": 5}, "invalid JSON Schema"),
        ({"properties": {"userId": {"minimum": "0"}}}, "invalid JSON Schema"),
        ([1, 2], "invalid JSON Schema"),
        ('{"type": "object",', "is not valid JSON"),
        ("not json", "is not valid JSON"),
        ("", "is not valid JSON"),
    ],
)
def test_schemas_set_refuses_bad_files_and_saves_nothing(
    app, cli, created, schema_file, content, message
):
    data = invoke_json(cli, "schemas", "set", created["id"], "signup", schema_file(content), code=1)
    assert message in data["error"]
    result = cli("schemas", "set", created["id"], "signup", schema_file(content), code=1)
    assert message in result.output
    with app.app_context():
        assert catalog.latest_schemas(uuid.UUID(created["id"])) == []


def test_schemas_set_refuses_a_non_utf8_file(cli, created, tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"title": "caf\xe9"}')
    data = invoke_json(cli, "schemas", "set", created["id"], "signup", str(path), code=1)
    assert "is not valid JSON" in data["error"]


def test_schemas_list_shows_the_newest_version_of_each(cli, created, schema_file):
    for event_name, schema in [
        ("user_login", {"type": "object"}),
        ("user_login", USER_LOGIN_SCHEMA),
        ("app_open", {"type": "object", "required": ["eventName"]}),
    ]:
        invoke_json(cli, "schemas", "set", created["id"], event_name, schema_file(schema))
    data = invoke_json(cli, "schemas", "list", created["name"])
    assert data["app_id"] == created["id"]
    assert [(s["event_name"], s["version"], s["schema"]) for s in data["schemas"]] == [
        ("app_open", 1, {"type": "object", "required": ["eventName"]}),
        ("user_login", 2, USER_LOGIN_SCHEMA),
    ]
    assert "user_login  v2" in cli("schemas", "list", created["id"]).output


def test_schemas_list_of_an_app_without_schemas(cli, created):
    assert invoke_json(cli, "schemas", "list", created["id"])["schemas"] == []
    assert "No schemas." in cli("schemas", "list", created["id"]).output


def test_events_stats_and_get_after_storage(client, cli, created, schema_file, default_worker):
    invoke_json(cli, "schemas", "set", created["id"], "user_login", schema_file(USER_LOGIN_SCHEMA))
    events = [
        {"eventName": "user_login", "userId": 1},
        {"eventName": "user_login", "userId": 2},
        {"eventName": "user_login", "userId": "three"},
        {"eventName": "screen_view"},
        {"userId": 4},
    ]
    answers = [post(client, created["id"], created["ingest_key"], e) for e in events]

    def stats() -> dict:
        return invoke_json(cli, "events", "stats", created["name"])

    summary = wait_for(lambda: (s := stats())["total"] == len(events) and s, timeout=20)
    assert summary["app_id"] == created["id"]
    assert summary["by_status"] == {"valid": 2, "invalid": 2, "unplanned": 1}
    assert summary["by_event"] == {
        "(no eventName)": {"invalid": 1},
        "screen_view": {"unplanned": 1},
        "user_login": {"valid": 2, "invalid": 1},
    }
    assert invoke_json(cli, "events", "stats", created["id"], "--hours", "1")["total"] == 5

    invalid = answers[2]
    got = invoke_json(cli, "events", "get", invalid["event_id"])
    assert got["event_id"] == invalid["event_id"]
    assert got["app_id"] == created["id"]
    assert got["event_name"] == "user_login"
    assert got["status"] == "invalid"
    assert got["errors"] == invalid["errors"]
    assert got["errors"][0]["path"] == "/userId"
    assert got["schema_version"] == 1
    assert got["payload"] == events[2]
    assert got["received_at"] and got["stored_at"]

    nameless = invoke_json(cli, "events", "get", answers[4]["event_id"])
    assert (nameless["event_name"], nameless["schema_version"]) == (None, None)


def test_events_stats_of_an_app_without_events(cli, created):
    summary = invoke_json(cli, "events", "stats", created["id"])
    assert summary["total"] == 0
    assert summary["by_status"] == {"valid": 0, "invalid": 0, "unplanned": 0}
    assert summary["by_event"] == {}


@pytest.mark.parametrize(
    "event_id", [str(uuid.uuid4()), "not-a-uuid", ""], ids=["unknown-uuid", "not-a-uuid", "empty"]
)
def test_events_get_unknown_id_fails_cleanly(cli, event_id):
    data = invoke_json(cli, "events", "get", event_id, code=1)
    assert data == {"error": f"no stored event with id {event_id!r}"}
    result = cli("events", "get", event_id, code=1)
    assert "Error: no stored event" in result.output
    assert "Traceback" not in result.output


def test_the_real_flask_command(app):
    """The installed entry point, as an operator runs it, with the test environment."""
    flask = [sys.executable, "-m", "flask", "--app", "run"]
    name = unique_name()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*flask, *args],
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=180,  # a guard against a hang: one command once took 60 s on a busy machine
        )

    first = run("apps", "create", name, "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["name"] == name and data["ingest_key"].startswith("lvd_")

    duplicate = run("apps", "create", name)
    assert duplicate.returncode != 0
    assert "already exists" in duplicate.stderr
