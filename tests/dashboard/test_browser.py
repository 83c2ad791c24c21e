"""The dashboard in headless Chromium, served over real HTTP, events stored by a real worker."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
import uuid_utils
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from tests.support.environment import PROJECT_ROOT
from tests.support.factories import USER_LOGIN_SCHEMA, make_record, stored_events
from tests.support.processes import wait_for
from tests.support.servers import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
WIDTHS = (1440, 390)


@pytest.fixture
def live_url(app, monkeypatch):
    """Serve the app on a loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setitem(app.config, "PUBLIC_URL", url)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module; each page gets a fresh context (its own cookies)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def signed_in_page(app, browser, team, live_url):
    """Return new_page(width): a page whose browser carries the owner's session cookie.

    The owner is also an installation admin, so the system page opens too."""
    from app.auth.accounts import make_admin

    with app.app_context():
        make_admin(team["owner_email"])
    cookie = team["owner"].client.get_cookie("session")
    contexts = []

    def new_page(width: int = 1440):
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.add_cookies([{"name": "session", "value": cookie.value, "url": live_url}])
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
        return page

    yield new_page
    for context in contexts:
        context.close()


def send(client, team, event: dict) -> dict:
    answer = client.post(
        f"/api/logs/{team['app_id']}", json=event, headers={"X-API-Key": team["key"]}
    )
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()


def stored(app, event_id: str) -> bool:
    from app.extensions import db
    from app.models import Event

    with app.app_context():
        found = db.session.get(Event, uuid.UUID(event_id)) is not None
        db.session.remove()
        return found


def test_the_live_page_shows_new_events_by_itself_and_pause_holds_them(
    app, client, team, live_url, signed_in_page, default_worker
):
    page = signed_in_page()
    page.goto(f"{live_url}/apps/{team['app_id']}/live")
    expect(page.get_by_text("No events yet")).to_be_visible()

    first = send(client, team, {"eventName": "live_one", "n": 1})
    wait_for(lambda: stored(app, first["event_id"]), timeout=30)
    shown_after_store = time.monotonic()
    expect(page.locator(f'tr[data-id="{first["event_id"]}"]')).to_be_visible(timeout=3000)
    assert time.monotonic() - shown_after_store < 3.5  # within 3 s of being stored
    expect(page.get_by_text("No events yet")).to_be_hidden()

    page.click("#pause")
    expect(page.locator("#live-state")).to_have_text("Paused")
    held = send(client, team, {"eventName": "while_paused"})
    wait_for(lambda: stored(app, held["event_id"]), timeout=30)
    page.wait_for_timeout(2500)  # longer than two polls: a paused page must not have taken it
    expect(page.locator(f'tr[data-id="{held["event_id"]}"]')).to_have_count(0)

    page.click("#pause")  # resume
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(page.locator(f'tr[data-id="{held["event_id"]}"]')).to_be_visible(timeout=3000)
    ids = page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert ids[:2] == [held["event_id"], first["event_id"]]  # newest first


def test_an_event_stored_after_a_newer_one_still_appears_in_its_place(
    app, team, live_url, signed_in_page
):
    """Storage processes can commit out of order: an event made first and stored last
    (an older id) appears on an open page too, below the newer row."""
    from app.store import live_marks
    from app.store.events import store_events

    early_id = str(uuid_utils.uuid7())
    [newer] = stored_events(app, team["app_id"], [{"event_name": "stored_first"}])
    page = signed_in_page()
    page.goto(f"{live_url}/apps/{team['app_id']}/live")
    expect(page.locator(f'tr[data-id="{newer}"]')).to_be_visible()
    page.wait_for_timeout(1500)  # the page has polled and holds the app's mark

    record = make_record(team["app_id"], id=early_id, event_name="stored_last")
    with app.app_context():
        store_events([record])
        live_marks.record_stored(app.extensions["celery"].backend, [record])
    expect(page.locator(f'tr[data-id="{early_id}"]')).to_be_visible(timeout=3000)
    ids = page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert ids == [newer, early_id]


def test_an_invalid_event_opens_with_its_error_path_highlighted(
    app, team, live_url, signed_in_page
):
    [event_id] = stored_events(
        app,
        team["app_id"],
        [
            {
                "event_name": "user_login",
                "status": "invalid",
                "payload": {"eventName": "user_login", "userId": "abc"},
                "errors": [{"path": "/userId", "keyword": "type", "message": "not an integer"}],
            }
        ],
    )
    page = signed_in_page()
    page.goto(f"{live_url}/apps/{team['app_id']}/live")
    page.click(f'tr[data-id="{event_id}"] a')
    page.wait_for_url(f"**/events/{event_id}")
    mark = page.locator('mark.error-mark[data-path="/userId"]')
    expect(mark).to_have_text('"abc"')
    background = mark.evaluate("node => getComputedStyle(node).backgroundColor")
    assert background == "rgb(127, 29, 29)"  # the highlight is really drawn
    expect(page.locator("#errors")).to_contain_text("not an integer")


def test_a_schema_written_tried_and_saved_turns_the_next_event_invalid(
    app, client, team, live_url, signed_in_page, default_worker
):
    page = signed_in_page()
    page.goto(f"{live_url}/apps/{team['app_id']}/schemas")
    page.fill("#event-name", "signup")
    page.fill("#schema-text", '{"type": "object", "required": [')
    expect(page.locator("#schema-check")).to_contain_text("Not valid JSON")
    expect(page.locator("#save")).to_be_disabled()
    page.fill("#schema-text", '{"type": "object", "properties": {"plan": {"type": "nope"}}}')
    expect(page.locator("#schema-check")).to_contain_text("is not valid under any of the given")
    expect(page.locator("#save")).to_be_disabled()

    schema = {"type": "object", "required": ["plan"], "properties": {"plan": {"enum": ["free"]}}}
    page.fill("#schema-text", json.dumps(schema))
    expect(page.locator("#schema-check")).to_contain_text("The schema is valid")
    page.fill("#try-payload", '{"eventName": "signup", "plan": "gold"}')
    page.click("#try")
    expect(page.locator("#try-result")).to_contain_text("1 error(s)")
    expect(page.locator("#try-result code")).to_have_text("/plan")

    page.click("#save")
    page.wait_for_url("**saved=1")
    expect(page.locator(".schema-list")).to_contain_text("signup")

    sent = send(client, team, {"eventName": "signup", "plan": "gold"})
    assert sent["status"] == "invalid"
    page.goto(f"{live_url}/apps/{team['app_id']}/live")
    row = page.locator(f'tr[data-id="{sent["event_id"]}"]')
    expect(row.locator(".badge")).to_have_text("invalid", timeout=30_000)
    expect(row).to_contain_text("/plan")


def test_a_schema_inferred_from_unplanned_examples_is_saved(app, team, live_url, signed_in_page):
    stored_events(
        app,
        team["app_id"],
        [
            {"event_name": "cart_view", "status": "unplanned", "payload": payload}
            for payload in (
                {"eventName": "cart_view", "items": 2, "currency": "EUR"},
                {"eventName": "cart_view", "items": 0},
            )
        ],
    )
    page = signed_in_page()
    page.goto(f"{live_url}/apps/{team['app_id']}")
    page.click("text=create a schema from these examples")
    expect(page.locator("#schema-check")).to_contain_text("Drafted from 2 stored example(s)")
    drafted = page.locator("#schema-text").input_value()
    assert '"currency"' in drafted and '"integer"' in drafted
    page.click("#save")
    page.wait_for_url("**saved=1")

    from app.store import catalog

    with app.app_context():
        saved = catalog.latest_schema(uuid.UUID(team["app_id"]), "cart_view")
        assert saved.version == 1
        assert saved.schema["required"] == ["eventName", "items"]  # currency is optional


def test_the_impact_preview_counts_match_a_direct_replay(app, team, live_url, signed_in_page):
    from app.validation import compile_validator, validate

    payloads = [{"eventName": "pay", "amount": value} for value in (1, 5, -3, "x", 10, -1, 2.5)]
    stored_events(
        app,
        team["app_id"],
        [{"event_name": "pay", "status": "unplanned", "payload": p} for p in payloads],
    )
    schema = {"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}}}
    validator = compile_validator(schema)
    failing = sum(1 for p in payloads if validate(validator, p))

    page = signed_in_page()
    page.goto(f"{live_url}/apps/{team['app_id']}/schemas?event=pay")
    page.fill("#schema-text", json.dumps(schema))
    page.click("#impact")
    summary = page.locator("#impact-result p")
    expect(summary).to_contain_text("Of the last 7 stored pay events")
    assert summary.get_attribute("data-fail") == str(failing) == "3"
    assert summary.get_attribute("data-pass") == str(len(payloads) - failing)


def test_a_hostile_payload_renders_as_text_and_runs_nothing(app, team, live_url, signed_in_page):
    hostile = {
        "eventName": "xss",
        "a": "<script>window.__pwned = 1; alert(1)</script>",
        "b": '<img src=x onerror="window.__pwned = 2; alert(2)">',
    }
    [event_id] = stored_events(
        app, team["app_id"], [{"event_name": "<img src=y onerror=alert(3)>", "payload": hostile}]
    )
    page = signed_in_page()
    for url in (f"/apps/{team['app_id']}/live", f"/apps/{team['app_id']}/events/{event_id}"):
        page.goto(live_url + url)
        page.wait_for_timeout(1500)  # a live poll, and time for any injected handler to fire
        expect(page.get_by_text("<img src=y onerror=alert(3)>").first).to_be_visible()
        assert page.evaluate("window.__pwned") is None
    expect(page.locator("#payload")).to_contain_text(
        "<script>window.__pwned = 1; alert(1)</script>"
    )


def test_screenshots_of_every_page_at_desktop_and_phone_width(app, team, live_url, signed_in_page):
    from app.models import App
    from app.store import catalog

    with app.app_context():
        catalog.set_schema(App.lookup(team["app_id"]), "user_login", USER_LOGIN_SCHEMA)
    ids = stored_events(
        app,
        team["app_id"],
        [{"event_name": "user_login", "schema_version": 1}] * 3
        + [
            {
                "event_name": "user_login",
                "status": "invalid",
                "schema_version": 1,
                "payload": {"eventName": "user_login", "userId": "abc"},
                "errors": [{"path": "/userId", "keyword": "type", "message": "not an integer"}],
            }
        ]
        + [{"event_name": "screen_view", "status": "unplanned"}],
    )
    app_id = team["app_id"]
    pages = {
        "apps": ("/apps", "h1", "Your apps"),
        "overview": (f"/apps/{app_id}", "table.errors", "/userId"),
        "live": (f"/apps/{app_id}/live", "#rows", "screen_view"),
        "event": (f"/apps/{app_id}/events/{ids[3]}", "mark.error-mark", '"abc"'),
        "plan": (f"/apps/{app_id}/schemas", ".schema-list", "user_login"),
        "settings": (f"/apps/{app_id}/settings", "#keys", "until revoked"),
        "system": ("/system", "#queues", "batch_processing"),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page = signed_in_page(width)
        for name, (url, selector, text) in pages.items():
            page.goto(live_url + url)
            expect(page.locator(selector).first).to_contain_text(text)
            if name == "overview":
                expect(page.locator("#chart canvas")).to_have_count(1)
            # Nothing wider than the viewport: usable without sideways scrolling of the page.
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} at {width}px is {overflow}px too wide"
            shot = Path(ARTIFACTS / f"{name}-{width}.png")
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"  # keyboard focus is visible


def test_the_diff_offers_the_saved_versions_and_the_system_table_fits_a_phone(
    app, team, live_url, signed_in_page
):
    from app.models import App
    from app.store import catalog

    with app.app_context():
        target = App.lookup(team["app_id"])
        for required in (["userId"], ["userId", "method"], ["userId", "method", "at"]):
            catalog.set_schema(target, "user_login", {**USER_LOGIN_SCHEMA, "required": required})
        catalog.set_schema(target, "screen_view", {"type": "object"})
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page = signed_in_page(width)
        page.goto(f"{live_url}/apps/{team['app_id']}/schemas?event=user_login")
        # Previous against latest by default, chosen from the saved versions.
        assert page.locator("#diff-to option").all_text_contents() == ["v3", "v2", "v1"]
        expect(page.locator("#diff-from")).to_have_value("2")
        expect(page.locator("#diff-to")).to_have_value("3")
        page.click("#diff")
        expect(page.locator("#diff-result .add").last).to_contain_text('"at"')
        page.locator("#diff-result").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"plan-diff-{width}.png"), full_page=True)
        page.fill("#event-name", "screen_view")
        page.dispatch_event("#event-name", "change")
        expect(page.locator("#diff-from option")).to_have_text(["v1"])

        page.goto(f"{live_url}/system")
        expect(page.locator("#queues")).to_contain_text("batch_processing")
        sideways = page.evaluate(
            "(() => { const w = document.querySelector('#queues').parentElement;"
            " return w.scrollWidth - w.clientWidth; })()"
        )
        assert sideways <= 0, f"the queue table scrolls sideways by {sideways}px at {width}px"
        if width < 700:  # stacked: every value carries its column's name
            label = page.locator("#queues td").first.evaluate(
                "td => getComputedStyle(td, '::before').content"
            )
            assert label == '"Queue"'
        page.screenshot(path=str(ARTIFACTS / f"system-{width}.png"), full_page=True)
