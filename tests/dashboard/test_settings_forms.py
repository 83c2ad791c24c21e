"""Settings forms stay put: each lands back on Settings at its form (Post/Redirect/Get), a
refusal keeps what was typed and shows the reason beside the field, and no page that
shows a secret keeps a POST address."""

from __future__ import annotations

import re

import pytest

from tests.accounts import landed, page


def settings_url(team) -> str:
    return f"/apps/{team['app_id']}/settings"


@pytest.mark.parametrize(
    ("action", "data", "anchor_text"),
    [
        ("background/retention", {"days": "5"}, "kept 5 days"),
        ("background/notifications", {"kind": "alerts", "enabled": "1"}, "alerts on"),
        ("background/webhook", {"url": ""}, "Webhook removed"),
    ],
)
def test_each_settings_form_lands_back_on_settings(team, action, data, anchor_text):
    owner = team["owner"]
    response = owner.submit(f"/apps/{team['app_id']}/{action}", data, page=settings_url(team))
    assert landed(response) == settings_url(team)
    assert anchor_text.lower() in page(response).lower()


def test_a_refused_webhook_url_is_kept_with_its_reason_beside_the_field(app, team, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    typed = "http://127.0.0.1:9/hook"
    response = team["owner"].submit(
        f"/apps/{team['app_id']}/background/webhook", {"url": typed}, page=settings_url(team)
    )
    html = page(response)
    assert landed(response) == settings_url(team)
    field = re.search(r'<input id="webhook-url"[^>]*>', html).group(0)
    assert f'value="{typed}"' in field and 'aria-invalid="true"' in field
    reason = re.search(r'id="webhook-url-error"[^>]*>(.*?)</p>', html, re.S).group(1)
    assert "Not saved" in reason and "WEBHOOK_ALLOW_PRIVATE=1" in reason
    # Shown once: the next visit shows the saved value again, without the refusal.
    again = page(team["owner"].get(settings_url(team)))
    assert "webhook-url-error" not in again and typed not in again


def test_a_refused_retention_keeps_the_typed_value(team):
    response = team["owner"].submit(
        f"/apps/{team['app_id']}/background/retention", {"days": "0"}, page=settings_url(team)
    )
    html = page(response)
    assert landed(response) == settings_url(team)
    assert re.search(r'id="retention-days"[^>]*value="0"', html)
    assert "between 1 and 3650" in re.search(
        r'id="retention-days-error"[^>]*>(.*?)</p>', html
    ).group(1)


@pytest.mark.parametrize("action", ["keys", "keys/rotate"])
def test_a_new_key_is_shown_on_a_get_page_once(team, action):
    owner = team["owner"]
    data = {"overlap_hours": "0"} if action == "keys/rotate" else {}
    shown = owner.submit(f"/apps/{team['app_id']}/{action}", data, page=settings_url(team))
    assert landed(shown) == f"/apps/{team['app_id']}/keys/new"  # a reload re-posts nothing
    key = re.search(r'id="new-ingest-key">([^<]+)<', page(shown)).group(1)
    again = owner.get(f"/apps/{team['app_id']}/keys/new", follow_redirects=True)
    assert key not in page(again) and landed(again) == settings_url(team)


def test_a_saved_webhook_secret_is_shown_on_a_get_page_once(team):
    owner = team["owner"]
    shown = owner.submit(
        f"/apps/{team['app_id']}/background/webhook",
        {"url": "https://93.184.215.14/hook"},  # public, never contacted
        page=settings_url(team),
    )
    secret_page = f"/apps/{team['app_id']}/background/webhook/secret"
    assert landed(shown) == secret_page
    secret = re.search(r'id="webhook-secret">([^<]+)<', page(shown)).group(1)
    assert secret not in page(owner.get(secret_page, follow_redirects=True))


def test_a_new_app_shows_its_key_once_on_a_get_page_with_copy_buttons(team):
    owner = team["owner"]
    name = f"created-{team['app_id'][:8]}"
    shown = owner.submit("/apps", {"name": name}, page="/apps")
    created_page = landed(shown)
    assert re.fullmatch(r"/apps/[0-9a-f-]{36}/created", created_page)
    html = page(shown)
    key = re.search(r'id="new-ingest-key">([^<]+)<', html).group(1)
    assert 'data-copy="new-ingest-key"' in html and 'data-copy="first-curl"' in html
    assert f"X-API-Key: {key}" in html
    again = owner.get(created_page, follow_redirects=True)
    assert key not in page(again) and landed(again) == created_page.removesuffix("/created")
