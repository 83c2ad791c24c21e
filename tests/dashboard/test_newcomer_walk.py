"""A newcomer's walk through the dashboard in Chromium, in Europe/Paris, at 1440 and
390 px: every time shown is the stored moment in the viewer's zone, pickers are in that
zone too, nothing overflows the viewport, a schema drafts from a pasted example, and the
live stream pages back to older events. Screenshots land in test-artifacts/."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.dashboard.test_browser import ARTIFACTS, WIDTHS, browser, live_url  # noqa: F401
from tests.support.factories import USER_LOGIN_SCHEMA, stored_events

ZONE = "Europe/Paris"
CLOCK = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})\s*([AP]M)?")
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  return Array.from(document.querySelectorAll("body *"))
    .filter(el => { const box = el.getBoundingClientRect();
                    return box.width > 0 && box.right > width + 1; })
    .map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
               (el.className && typeof el.className === "string" ? "." + el.className : ""));
}"""


@pytest.fixture
def paris_page(browser, team, live_url):  # noqa: F811
    """Return new_page(width): the owner's session in a browser set to Europe/Paris."""
    cookie = team["owner"].client.get_cookie("session")
    contexts = []

    def new_page(width: int):
        context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id=ZONE)
        context.add_cookies([{"name": "session", "value": cookie.value, "url": live_url}])
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()


def shown_clock(text: str) -> tuple[int, int, int]:
    hour, minute, second, half = CLOCK.search(text).groups()
    hour = int(hour)
    if half:
        hour = hour % 12 + (12 if half == "PM" else 0)
    return hour, int(minute), int(second)


def assert_times_are_local(page) -> int:
    """Every <time> shows its own RFC 3339 moment converted to Europe/Paris; returns how
    many were checked."""
    times = page.locator("time[datetime]").evaluate_all(
        "nodes => nodes.map(n => [n.getAttribute('datetime'), n.textContent, n.title])"
    )
    for iso, text, title in times:
        moment = datetime.fromisoformat(iso)
        assert moment.utcoffset() is not None, iso  # every moment carries its offset
        local = moment.astimezone(ZoneInfo(ZONE))
        assert shown_clock(text) == (local.hour, local.minute, local.second), (iso, text)
        assert "UTC" in title
    return len(times)


def test_a_newcomer_walk_in_paris_at_both_widths(app, team, live_url, paris_page):  # noqa: F811
    from app.models import App
    from app.store import catalog

    app_id = team["app_id"]
    with app.app_context():
        catalog.set_schema(App.lookup(app_id), "user_login", USER_LOGIN_SCHEMA)
    [event_id] = stored_events(
        app,
        app_id,
        [{"status": "invalid", "errors": [{"path": "/userId", "keyword": "type", "message": "x"}]}],
    )
    pages = {
        "overview": f"/apps/{app_id}",
        "live": f"/apps/{app_id}/live",
        "event": f"/apps/{app_id}/events/{event_id}",
        "plan": f"/apps/{app_id}/schemas?event=user_login",
        "settings": f"/apps/{app_id}/settings",
        "export": f"/apps/{app_id}/export",
        "apps": "/apps",
        "system": "/system",
    }
    ARTIFACTS.mkdir(exist_ok=True)
    checked = 0
    for width in WIDTHS:
        page = paris_page(width)
        for name, path in pages.items():
            page.goto(live_url + path)
            page.wait_for_load_state("networkidle")
            checked += assert_times_are_local(page)
            page.screenshot(path=str(ARTIFACTS / f"walk-{name}-{width}.png"), full_page=True)
            assert page.evaluate(OVERFLOWING) == [], (name, width)
    assert checked >= 2 * 4  # event, live row, schema version, key: at both widths


def test_range_pickers_show_and_submit_the_viewers_time(app, team, live_url, paris_page):  # noqa: F811
    from app.background import jobs

    page = paris_page(1440)
    page.goto(f"{live_url}/apps/{team['app_id']}/export?status=invalid")
    since = page.locator("#export-since")
    expect(page.locator("label[for=export-since] [data-zone-label]")).to_have_text(f"({ZONE})")
    shown = datetime.fromisoformat(since.input_value()).replace(tzinfo=ZoneInfo(ZONE))
    expected = datetime.now(UTC) - timedelta(days=1)
    assert abs((shown - expected).total_seconds()) < 180  # the UTC default, shown in Paris
    since.fill("2026-07-01T10:00")  # summer: Paris is UTC+2
    page.click("#export button[type=submit]")
    expect(page.locator("#export .flash.success")).to_be_visible()
    assert page.url.endswith(f"/apps/{team['app_id']}/export#export")
    with app.app_context():
        [job] = jobs.recent_jobs(uuid.UUID(team["app_id"]), "export")[:1]
        assert job.params["since"] == "2026-07-01T08:00:00+00:00"
        assert job.params["status"] == "invalid"


def test_a_schema_drafts_from_a_pasted_example(team, live_url, paris_page):  # noqa: F811
    page = paris_page(1440)
    page.goto(f"{live_url}/apps/{team['app_id']}/schemas")
    page.fill("#event-name", "checkout")
    page.click("#paste-examples summary")
    page.fill("#examples-text", '[{"orderId": "A-1", "total": 12.5}, {"orderId": "B-2"}]')
    page.click("#infer-pasted")
    expect(page.locator("#schema-check")).to_contain_text("2 pasted example(s)")
    drafted = page.locator("#schema-text").input_value()
    assert '"orderId"' in drafted and '"total"' in drafted and '"required"' in drafted


def test_the_live_stream_loads_older_events_with_filters_kept(app, team, live_url, paris_page):  # noqa: F811
    app_id = team["app_id"]
    older = stored_events(app, app_id, [{"event_name": "page_view"}] * 70)
    stored_events(app, app_id, [{"event_name": "other"}] * 30)
    page = paris_page(390)
    page.goto(f"{live_url}/apps/{app_id}/live?event=page_view")
    rows = page.locator("#rows tr")
    expect(rows).to_have_count(50)
    page.click("#load-older")
    expect(rows).to_have_count(70)
    expect(page.locator("#older-state")).to_have_text("No older events.")
    names = rows.evaluate_all("rows => rows.map(r => r.children[1].textContent.trim())")
    assert set(names) == {"page_view"}  # the filter held for the older page
    ids = rows.evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert ids == sorted(older, reverse=True)
    export_href = page.locator("#export-link").get_attribute("href")
    assert export_href.endswith("/export?event_name=page_view")
