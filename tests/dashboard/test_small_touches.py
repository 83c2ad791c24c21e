"""The small things a newcomer meets: an icon, one charset, a way back from a 404, a
Flower link only where Flower is configured, one click to log out."""

from __future__ import annotations

import re

from tests.accounts import landed, page


def test_the_favicon_is_served(client):
    icon = client.get("/favicon.ico", follow_redirects=True)
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert 'rel="icon"' in page(client.get("/"))


def test_metrics_name_their_charset_once(client):
    answer = client.get("/metrics")  # the test client comes from loopback
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].count("charset") == 1


def test_a_missing_page_explains_itself_and_offers_a_way_back(client):
    answer = client.get("/apps/00000000-0000-0000-0000-000000000000/nothing-here")
    html = page(answer)
    assert answer.status_code == 404
    assert "no such page" in html and 'href="/auth/login"' in html


def test_the_system_page_links_flower_only_when_configured(app, team, monkeypatch):
    from app.auth.accounts import make_admin

    with app.app_context():
        make_admin(team["owner_email"])  # /system is for installation admins
    monkeypatch.setitem(app.config, "DASHBOARD_FLOWER_URL", None)
    html = page(team["owner"].get("/system"))
    assert ":5555" not in html and "DASHBOARD_FLOWER_URL" in html
    monkeypatch.setitem(app.config, "DASHBOARD_FLOWER_URL", "http://flower.internal:5555")
    assert 'href="http://flower.internal:5555"' in page(team["owner"].get("/system"))


def test_logging_out_from_the_navigation_takes_one_click(team):
    owner = team["owner"]
    apps_page = page(owner.get("/apps"))
    form = re.search(
        r'<form class="inline" method="post" action="/auth/logout">(.*?)</form>', apps_page, re.S
    ).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    out = owner.client.post("/auth/logout", data={"csrf_token": token}, follow_redirects=True)
    assert landed(out) == "/auth/login" and "You are logged out." in page(out)
    assert owner.get("/apps").status_code == 302  # the session is gone
