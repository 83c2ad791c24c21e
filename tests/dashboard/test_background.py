"""Background settings of an app: webhook with its secret shown once and a "send a test",
deliveries as JSON, alert and digest opt-in and opt-out, retention; members only."""

from __future__ import annotations

import re
import uuid

import pytest
from flask import render_template
from flask_login import login_user

from app.auth.accounts import find_user
from app.background import alerts
from app.extensions import db
from app.models import App
from app.store import catalog, memberships
from tests.accounts import Web, landed, log_in, page
from tests.background import WebhookReceiver, verify_signature
from tests.support.processes import wait_for


@pytest.fixture
def developer(app, web, smtp_sink, make_user):
    """Return a function that logs a new developer in; it returns (address, web client)."""

    def make() -> tuple[str, Web]:
        address = make_user()
        client = Web(app.test_client())
        assert landed(log_in(client, smtp_sink, address)) == "/apps"
        return address, client

    return make


def _owned_app(app, owner: str) -> str:
    with app.app_context():
        created, _key = catalog.create_app(
            f"bg-{uuid.uuid4().hex[:8]}", owner_id=find_user(owner).id
        )
        return str(created.id)


def test_owner_sets_a_webhook_and_sends_a_test(app, developer, emails_worker):
    owner_address, owner = developer()
    app_id = _owned_app(app, owner_address)
    receiver = WebhookReceiver()
    try:
        shown = owner.submit(
            f"/apps/{app_id}/background/webhook", {"url": receiver.url}, page="/apps"
        )
        secret = re.search(r"(whsec_[A-Za-z0-9_-]+)", page(shown)).group(1)
        tested = owner.submit(f"/apps/{app_id}/background/webhook/test", page="/apps")
        assert "Test delivery queued" in page(tested)
        wait_for(lambda: receiver.requests, timeout=30)
        headers, body = receiver.requests[0]
        assert verify_signature(secret, headers, body) and headers["X-LVD-Event"] == "webhook.test"

        def delivered():
            rows = owner.get(f"/apps/{app_id}/background/deliveries.json").get_json()["deliveries"]
            return rows and rows[0]["status"] == "delivered" and rows[0]

        row = wait_for(delivered, timeout=30)
        assert (row["response_code"], row["attempts"], row["kind"]) == (200, 1, "webhook.test")
    finally:
        receiver.stop()


def test_settings_are_for_members_and_webhook_and_retention_for_owners(app, developer):
    owner_address, owner = developer()
    member_address, member = developer()
    _stranger_address, stranger = developer()
    app_id = _owned_app(app, owner_address)
    with app.app_context():
        memberships.add(uuid.UUID(app_id), find_user(member_address))
    assert stranger.get(f"/apps/{app_id}/background/deliveries.json").status_code == 404
    assert stranger.get(f"/apps/{app_id}/notifications/opt-out?kind=digest").status_code == 404
    assert (
        stranger.submit(
            f"/apps/{app_id}/background/retention", {"days": "3"}, page="/apps"
        ).status_code
        == 404
    )
    assert (
        member.submit(
            f"/apps/{app_id}/background/retention", {"days": "3"}, page="/apps"
        ).status_code
        == 403
    )
    assert (
        member.submit(
            f"/apps/{app_id}/background/webhook", {"url": "https://example.com"}, page="/apps"
        ).status_code
        == 403
    )
    no_csrf = owner.client.post(f"/apps/{app_id}/background/retention", data={"days": "3"})
    assert no_csrf.status_code in (302, 400)
    kept = owner.submit(f"/apps/{app_id}/background/retention", {"days": "3"}, page="/apps")
    assert "kept 3 days" in page(kept)
    refused = owner.submit(f"/apps/{app_id}/background/retention", {"days": "0"}, page="/apps")
    assert "between 1 and 3650" in page(refused)


def test_a_member_opts_in_and_opts_out_from_the_mail_link(app, developer):
    owner_address, owner = developer()
    app_id = _owned_app(app, owner_address)
    on = owner.submit(
        f"/apps/{app_id}/background/notifications", {"kind": "digest", "enabled": "1"}, page="/apps"
    )
    assert "Daily digest on" in page(on)
    with app.app_context():
        assert alerts.recipients(uuid.UUID(app_id), "digest") == [owner_address]
    link = f"/apps/{app_id}/notifications/opt-out?kind=digest"
    assert "Stop the daily digest" in page(owner.get(link))
    owner.submit(link, {"kind": "digest"}, page=link)
    with app.app_context():
        assert alerts.recipients(uuid.UUID(app_id), "digest") == []


def test_the_settings_partial_shows_the_choices_without_inline_scripts(app, make_user):
    address = make_user()
    with app.app_context():
        user = find_user(address)
        created, _key = catalog.create_app(f"bg-{uuid.uuid4().hex[:8]}", owner_id=user.id)
        alerts.set_choice(created.id, user.id, "alerts", True)
        with app.test_request_context():
            login_user(user)
            html = render_template(
                "apps/_background_settings.html", app=db.session.get(App, created.id)
            )
    assert "first time a new validation error appears: <strong>on</strong>" in html
    assert "daily digest of yesterday&#39;s validation errors: <strong>off</strong>" in html
    assert 'value="30"' in html and "No deliveries yet" in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/background.js" defer>']
