"""Every dashboard page: members see it, non-members get 404, visitors go to the login."""

from __future__ import annotations

import re

import pytest

from tests.accounts import landed, page
from tests.support.factories import stored_events

APP_PAGES = [
    "/apps/{app}",
    "/apps/{app}/live",
    "/apps/{app}/events/{event}",
    "/apps/{app}/schemas",
    "/apps/{app}/settings",
]
XSS_PAYLOAD = {
    "eventName": "xss_probe",
    "note": "<script>window.__pwned = 1</script>",
    "img": '<img src=x onerror="window.__pwned = 2">',
}


@pytest.fixture
def with_event(app, team):
    [event_id] = stored_events(
        app,
        team["app_id"],
        [
            {
                "event_name": "checkout",
                "status": "invalid",
                "payload": {"eventName": "checkout", "cart": {"total": "12"}},
                "errors": [
                    {"path": "/cart/total", "keyword": "type", "message": "not a number"},
                    {"path": "/userId", "keyword": "required", "message": "userId is required"},
                ],
                "schema_version": 3,
                "client_event_id": "c-77",
            }
        ],
    )
    return {**team, "event_id": event_id}


@pytest.mark.parametrize("template", APP_PAGES)
def test_app_pages_are_for_members_only(app, with_event, template):
    url = template.format(app=with_event["app_id"], event=with_event["event_id"])
    shown = with_event["owner"].get(url)
    assert shown.status_code == 200
    assert "Content-Security-Policy" in shown.headers
    assert "'unsafe-inline'" not in shown.headers["Content-Security-Policy"]
    assert with_event["stranger"].get(url).status_code == 404
    visitor = app.test_client().get(url, follow_redirects=True)
    assert landed(visitor) == "/auth/login"


def test_the_system_page_needs_a_login_and_shows_the_queues(app, team):
    from app.auth.accounts import make_admin

    visitor = app.test_client().get("/system", follow_redirects=True)
    assert landed(visitor) == "/auth/login"
    refused = team["owner"].get("/system")
    assert refused.status_code == 404  # a developer, not an installation admin
    assert 'href="/system"' not in page(team["owner"].get("/apps"))
    with app.app_context():
        make_admin(team["owner_email"])
    assert 'href="/system"' in page(team["owner"].get("/apps"))
    html = page(team["owner"].get("/system"))
    for queue in ("default", "emails", "batch_processing"):
        assert f'data-queue="{queue}"' in html
    assert "Dead-letter queue" in html and "Flower" in html
    assert team["app_id"] not in html


def test_the_apps_list_shows_last_hour_counts_and_invalid_share(app, team):
    stored_events(
        app, team["app_id"], [{"status": "valid"}] * 3 + [{"status": "invalid", "errors": []}]
    )
    html = page(team["owner"].get("/apps"))
    row = re.search(rf'href="/apps/{team["app_id"]}".*?</tr>', html, re.S).group(0)
    assert '<td class="num" data-testid="hour-total">4</td>' in row
    assert "25.0 %" in row


def test_the_overview_shows_counts_error_groups_and_unplanned_names(app, with_event):
    stored_events(app, with_event["app_id"], [{"event_name": "mystery", "status": "unplanned"}])
    html = page(with_event["owner"].get(f"/apps/{with_event['app_id']}"))
    assert "1 invalid" in html and "1 unplanned" in html
    assert "/cart/total" in html and f"/events/{with_event['event_id']}" in html
    assert "create a schema from these examples" in html and "mystery" in html


def test_an_app_without_events_says_how_to_send_the_first(app, team):
    for url in (f"/apps/{team['app_id']}", f"/apps/{team['app_id']}/live"):
        html = page(team["owner"].get(url))
        assert "No events yet" in html and f"/api/logs/{team['app_id']}" in html


def test_event_detail_highlights_each_error_path_and_offers_curl(with_event):
    html = page(
        with_event["owner"].get(f"/apps/{with_event['app_id']}/events/{with_event['event_id']}")
    )
    assert re.search(r'<mark class="error-mark" data-path="/cart/total"[^>]*>', html)
    assert 'data-path="/"' in html  # the missing /userId highlights the object lacking it
    assert "checkout v3" in html and "c-77" in html
    assert "curl -X POST" in html and f"/api/logs/{with_event['app_id']}" in html


def test_a_hostile_payload_is_escaped_everywhere(app, team):
    [event_id] = stored_events(
        app, team["app_id"], [{"event_name": "<b>xss_probe</b>", "payload": XSS_PAYLOAD}]
    )
    owner = team["owner"]
    for url in (f"/apps/{team['app_id']}/live", f"/apps/{team['app_id']}/events/{event_id}"):
        html = page(owner.get(url))
        assert "<script>window.__pwned" not in html and "<img src=x" not in html
        assert "<b>xss_probe</b>" not in html and "&lt;b&gt;xss_probe&lt;/b&gt;" in html
    detail = page(owner.get(f"/apps/{team['app_id']}/events/{event_id}"))
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in detail


def test_no_page_has_inline_scripts_or_event_handlers(app, with_event):
    from app.auth.accounts import make_admin

    with app.app_context():
        make_admin(with_event["owner_email"])
    for template in APP_PAGES + ["/apps", "/system"]:
        url = template.format(app=with_event["app_id"], event=with_event["event_id"])
        html = page(with_event["owner"].get(url))
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), url
        assert not re.search(r"\son[a-z]+=", html), url


def test_event_detail_shows_the_verdict_before_a_revalidation(app, with_event):
    import uuid
    from datetime import UTC, datetime, timedelta

    from app.background import revalidation
    from app.extensions import db
    from app.models import App
    from app.store import catalog

    app_id = uuid.UUID(with_event["app_id"])
    detail = f"/apps/{app_id}/events/{with_event['event_id']}"
    assert "Before re-validation" not in page(with_event["owner"].get(detail))
    with app.app_context():
        target = db.session.get(App, app_id)
        fixed, _new = catalog.set_schema(target, "checkout", {"type": "object"})  # the fix
        version = fixed.version
        now = datetime.now(UTC)
        job = revalidation.start_revalidation(
            app_id, "checkout", now - timedelta(hours=1), now + timedelta(minutes=1), version
        )
        assert revalidation.run_revalidation(job.id, chunk_rows=100)["status"] == "done"
    html = page(with_event["owner"].get(detail))
    assert "Before re-validation" in html
    assert "It was\n      <strong>invalid</strong> against v3" in html
    assert '<span class="badge valid">valid</span>' in html  # the new verdict


@pytest.mark.parametrize(("base_url", "hsts"), [("https://lvd.example", True), ("http://x", False)])
def test_hsts_is_sent_under_https_only(app, base_url, hsts):
    answer = app.test_client().get("/auth/login", base_url=base_url)
    assert ("Strict-Transport-Security" in answer.headers) is hsts
    if hsts:
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
