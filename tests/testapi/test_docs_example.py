"""The pytest example of docs/testing-api.md passes against a real gunicorn and worker."""

from __future__ import annotations

import re

from tests.support.environment import PROJECT_ROOT
from tests.support.servers import gunicorn


def _run_example(document: str, test_name: str, tracked: dict, run: str, monkeypatch) -> None:
    """Run the one Python example of `document` against a real gunicorn, as a CI job would."""
    page = (PROJECT_ROOT / document).read_text()
    [example] = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    with gunicorn() as url:
        for name, value in {
            "LVD_URL": url,
            "LVD_APP_ID": tracked["id"],
            "LVD_INGEST_KEY": tracked["key"],
            "LVD_READ_TOKEN": tracked["token"],
            "CI_JOB_ID": run,
        }.items():
            monkeypatch.setenv(name, value)
        namespace: dict = {}
        exec(compile(example, document, "exec"), namespace)
        namespace[test_name]()  # raises AssertionError if the verdict is not valid


def _stored_in_run(client, tracked: dict, run: str) -> list[tuple[str, str]]:
    found = client.post(
        f"/api/apps/{tracked['id']}/events/search",
        json={"test_run": run},
        headers=tracked["bearer"],
    ).get_json()["events"]
    return [(row["event_name"], row["status"]) for row in found]


def test_the_documented_example_passes_against_gunicorn(
    client, tracked, default_worker, monkeypatch
):
    _run_example(
        "docs/testing-api.md", "test_login_event_is_valid", tracked, "docs-example", monkeypatch
    )
    assert _stored_in_run(client, tracked, "docs-example") == [("user_login", "valid")]


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
    _run_example(
        "README.md", "test_checkout_is_tracked_as_planned", tracked, "readme-example", monkeypatch
    )
    assert _stored_in_run(client, tracked, "readme-example") == [("checkout", "valid")]
