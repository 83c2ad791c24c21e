"""The pytest example of docs/testing-api.md passes against a real gunicorn and worker."""

from __future__ import annotations

import re

from tests.support.environment import PROJECT_ROOT
from tests.support.servers import gunicorn


def test_the_documented_example_passes_against_gunicorn(
    client, tracked, default_worker, monkeypatch
):
    page = (PROJECT_ROOT / "docs" / "testing-api.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    with gunicorn() as url:
        for name, value in {
            "LVD_URL": url,
            "LVD_APP_ID": tracked["id"],
            "LVD_INGEST_KEY": tracked["key"],
            "LVD_READ_TOKEN": tracked["token"],
            "CI_JOB_ID": "docs-example",
        }.items():
            monkeypatch.setenv(name, value)
        namespace: dict = {}
        exec(compile(example, "docs/testing-api.md", "exec"), namespace)
        namespace["test_login_event_is_valid"]()  # raises AssertionError if not valid
    found = client.post(
        f"/api/apps/{tracked['id']}/events/search",
        json={"test_run": "docs-example"},
        headers=tracked["bearer"],
    ).get_json()["events"]
    assert [(row["event_name"], row["status"]) for row in found] == [("user_login", "valid")]


CHECKOUT_SCHEMA = {
    "type": "object",
    "properties": {"properties": {"type": "object", "required": ["total"]}},
    "required": ["properties"],
}


def test_the_readme_example_passes_with_the_real_sdk_against_gunicorn(
    app, client, tracked, default_worker, monkeypatch
):
    """README's CI example: the real Segment SDK posts, the test API waits for the verdict."""
    from app.models import App
    from app.store import catalog

    with app.app_context():
        catalog.set_schema(App.lookup(tracked["id"]), "checkout", CHECKOUT_SCHEMA)
    readme = (PROJECT_ROOT / "README.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    with gunicorn() as url:
        for name, value in {
            "LVD_URL": url,
            "LVD_APP_ID": tracked["id"],
            "LVD_INGEST_KEY": tracked["key"],
            "LVD_READ_TOKEN": tracked["token"],
            "CI_JOB_ID": "readme-example",
        }.items():
            monkeypatch.setenv(name, value)
        namespace: dict = {}
        exec(compile(example, "README.md", "exec"), namespace)
        namespace["test_checkout_is_tracked_as_planned"]()  # raises AssertionError if not valid
    found = client.post(
        f"/api/apps/{tracked['id']}/events/search",
        json={"test_run": "readme-example"},
        headers=tracked["bearer"],
    ).get_json()["events"]
    assert [(row["event_name"], row["status"]) for row in found] == [("checkout", "valid")]
