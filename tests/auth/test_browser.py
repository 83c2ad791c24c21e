"""The whole login flow in headless Chromium, against the app served over real HTTP."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from tests.accounts import PASSWORD, code_in, text_of, unique_email
from tests.support.servers import free_port

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def live_url(app, smtp_sink, emails_worker, monkeypatch):
    """Serve the app on a loopback port; mailed links point at it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setitem(app.config, "PUBLIC_URL", url)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=10)


def test_register_confirm_log_in_with_the_mailed_code_and_see_the_apps_page(
    live_url, smtp_sink, tmp_path
):
    address = unique_email("browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{live_url}/auth/register")
            page.fill("input[name=email]", address)
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_url}/auth/login")
            expect(page.get_by_text("Check your inbox")).to_be_visible()

            welcome = smtp_sink.wait_for(address, "Welcome")
            link = next(word for word in text_of(welcome).split() if word.startswith(live_url))
            page.goto(link)
            expect(page.get_by_text("Your email address is confirmed")).to_be_visible()

            page.fill("input[name=email]", address)
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_url}/auth/otp")
            code = code_in(smtp_sink.wait_for(address, "login code"))
            page.fill("input[name=code]", code)
            page.click("input[type=submit]")

            page.wait_for_url(f"{live_url}/apps")
            expect(page.locator("h1")).to_have_text("Your apps")
            expect(page.get_by_text(address)).to_be_visible()
            page.fill("input[name=name]", f"browser-{address[8:18]}")
            page.click("input[type=submit]")
            expect(page.get_by_text("Its ingest key is shown only now")).to_be_visible()
            key = page.locator("code.secret").first.inner_text()
            assert key.startswith("lvd_") and len(key) > 40  # the key itself is on the page
            shot = tmp_path / "app-created.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000  # a rendered page, not a blank image

            page.click("text=Log out")
            page.wait_for_url(f"{live_url}/auth/login")
            page.goto(f"{live_url}/apps")
            page.wait_for_url(f"{live_url}/auth/login?next=%2Fapps")
        finally:
            browser.close()


def test_the_reset_pages_asset_requests_carry_no_token_in_referer(live_url, smtp_sink, make_user):
    address = make_user()
    seen: list[tuple[str, str]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page()
            page.goto(f"{live_url}/auth/reset")
            page.fill("input[name=email]", address)
            page.click("input[type=submit]")
            mail = smtp_sink.wait_for(address, "Reset your")
            link = next(word for word in text_of(mail).split() if word.startswith(live_url))
            token = link.rsplit("/", 1)[1]
            page.on(
                "request",
                lambda request: seen.append((request.url, request.headers.get("referer", ""))),
            )
            page.goto(link)
            page.wait_for_url(f"{live_url}/auth/reset/new")
            expect(page.locator("input[name=password]")).to_be_visible()
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    assets = [(url, referer) for url, referer in seen if "/static/" in url]
    assert assets, seen  # the page did load its stylesheet and scripts
    after_the_link = [(url, referer) for url, referer in seen if url != link]
    assert all(token not in url + referer for url, referer in after_the_link), seen


def test_login_with_a_tab_in_next_lands_on_the_apps_page(live_url, smtp_sink, make_user):
    address = make_user()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page()
            page.goto(f"{live_url}/auth/login?next=/%09/evil.example/phish")
            page.fill("input[name=email]", address)
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_url}/auth/otp")
            page.fill("input[name=code]", code_in(smtp_sink.wait_for(address, "login code")))
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_url}/apps", timeout=15_000)
            assert page.url == f"{live_url}/apps"
        finally:
            browser.close()
