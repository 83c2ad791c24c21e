"""`flask apps set-webhook | set-retention | alerts`, with --json and clear errors."""

from __future__ import annotations

import json
import uuid

import pytest

from app.auth.accounts import find_user
from app.background import alerts, webhooks
from app.extensions import db
from app.models import AppBackgroundSettings
from app.store import memberships
from tests.background import WebhookReceiver


@pytest.fixture
def cli_json(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, code: int = 0) -> dict:
        result = runner.invoke(args=[*args, "--json"])
        assert result.exit_code == code, result.output
        return json.loads(result.output.strip())

    return invoke


def test_set_webhook_prints_a_secret_once_that_signs(app, make_tracked_app, cli_json):
    target = make_tracked_app()
    receiver = WebhookReceiver()
    try:
        shown = cli_json("apps", "set-webhook", target["name"], receiver.url)
    finally:
        receiver.stop()
    assert shown["webhook_url"] == receiver.url and shown["signing_secret"].startswith("whsec_")
    with app.app_context():
        stored = db.session.get(AppBackgroundSettings, uuid.UUID(target["id"]))
        assert stored.webhook_secret == shown["signing_secret"]
        assert webhooks.sign(shown["signing_secret"], b"{}").startswith("sha256=")
    again = cli_json("apps", "set-webhook", target["id"], receiver.url)
    assert again["signing_secret"] != shown["signing_secret"]
    assert cli_json("apps", "set-webhook", target["id"], "none")["webhook_url"] is None


def test_set_webhook_refuses_unsafe_targets(app, make_tracked_app, cli_json, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    target = make_tracked_app()
    refused = cli_json("apps", "set-webhook", target["id"], "http://127.0.0.1/x", code=1)
    assert "private" in refused["error"]
    refused = cli_json("apps", "set-webhook", target["id"], "ftp://example.com/x", code=1)
    assert "http" in refused["error"]


def test_set_retention(make_tracked_app, cli_json):
    target = make_tracked_app()
    assert cli_json("apps", "set-retention", target["id"], "7")["retention_days"] == 7
    assert (
        "between 1 and 3650"
        in cli_json("apps", "set-retention", target["id"], "0", code=1)["error"]
    )
    assert "no app" in cli_json("apps", "set-retention", "no-such-app", "7", code=1)["error"]


def test_alerts_on_and_off(app, make_tracked_app, make_user, cli_json):
    target = make_tracked_app()
    member, stranger = make_user(), make_user()
    with app.app_context():
        memberships.add(uuid.UUID(target["id"]), find_user(member))
    assert cli_json("apps", "alerts", target["id"], member, "--on") == {
        "id": target["id"],
        "email": member,
        "alerts": True,
        "digest": True,
    }
    off = cli_json("apps", "alerts", target["id"], member, "--off", "--kind", "digest")
    assert (off["alerts"], off["digest"]) == (True, False)
    with app.app_context():
        assert alerts.recipients(uuid.UUID(target["id"]), "alerts") == [member]
        assert alerts.recipients(uuid.UUID(target["id"]), "digest") == []
    refused = cli_json("apps", "alerts", target["id"], stranger, "--on", code=1)
    assert "not a member" in refused["error"]
