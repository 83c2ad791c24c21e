"""Password reset: a single-use link valid 30 minutes that ends every session."""

from __future__ import annotations

import pytest

from tests.accounts import PASSWORD, Web, landed, link_in, log_in, page, text_of

NEW_PASSWORD = "a brand new passphrase"
SAME_ANSWER = "If an account exists for that address, we sent it a link"
NEW_PASSWORD_PAGE = "/auth/reset/new"


def request_link(web, smtp_sink, address: str) -> str:
    before = len(smtp_sink.received(address, "Reset your"))
    answer = web.submit("/auth/reset", {"email": address})
    assert SAME_ANSWER in page(answer)
    mail = smtp_sink.wait_for(address, "Reset your", count=before + 1)
    assert "30 minutes" in text_of(mail)
    return link_in(mail)


def set_password(web, link: str, password: str):
    """Open the emailed link (its token goes into the session), then submit the form."""
    web.get(link)
    return web.submit(NEW_PASSWORD_PAGE, {"password": password})


def test_reset_link_works_once_and_ends_other_sessions(web, app, smtp_sink, make_user):
    address = make_user()
    log_in(web, smtp_sink, address)
    other_device = Web(app.test_client())
    log_in(other_device, smtp_sink, address)
    assert landed(other_device.get("/apps", follow_redirects=True)) == "/apps"

    link = request_link(Web(app.test_client()), smtp_sink, address)
    resetter = Web(app.test_client())
    done = set_password(resetter, link, NEW_PASSWORD)
    assert landed(done) == "/auth/login"
    assert "every session was logged out" in page(done)
    assert smtp_sink.wait_for(address, "password was changed")

    for device in (web, other_device):
        answer = device.get("/apps", follow_redirects=True)
        assert landed(answer) == "/auth/login"
    again = resetter.submit(
        NEW_PASSWORD_PAGE, {"password": "yet another passphrase"}, page="/auth/reset"
    )
    assert "not valid" in page(resetter.get(link, follow_redirects=True))
    assert landed(again) != "/apps"

    refused = resetter.submit("/auth/login", {"email": address, "password": PASSWORD})
    assert "Invalid email or password." in page(refused)
    assert landed(log_in(resetter, smtp_sink, address, NEW_PASSWORD)) == "/apps"


@pytest.mark.parametrize(("minutes", "works"), [(29, True), (31, False)])
def test_reset_link_expires_after_30_minutes(web, smtp_sink, make_user, move_clock, minutes, works):
    address = make_user()
    link = request_link(web, smtp_sink, address)
    move_clock(minutes=minutes)
    answer = web.get(link, follow_redirects=True)
    if works:
        assert landed(answer) == NEW_PASSWORD_PAGE
        assert landed(web.submit(NEW_PASSWORD_PAGE, {"password": NEW_PASSWORD})) == "/auth/login"
    else:
        assert landed(answer) == "/auth/reset"
        assert "not valid" in page(answer)


def test_a_refused_new_password_keeps_the_link_usable(web, smtp_sink, make_user):
    address = make_user()
    link = request_link(web, smtp_sink, address)
    refused = set_password(web, link, "short")
    assert landed(refused) == NEW_PASSWORD_PAGE
    assert "Use 10 to 128 characters" in page(refused)
    assert landed(web.submit(NEW_PASSWORD_PAGE, {"password": NEW_PASSWORD})) == "/auth/login"


def test_reset_answers_the_same_for_an_unknown_address_and_sends_nothing(web, smtp_sink):
    address = "nobody-at-all@example.com"
    answer = web.submit("/auth/reset", {"email": address})
    assert landed(answer) == "/auth/login"
    assert SAME_ANSWER in page(answer)
    assert smtp_sink.received(address) == []


def test_the_token_leaves_the_url_at_once_and_no_page_sends_it_as_referer(
    web, smtp_sink, make_user
):
    address = make_user()
    link = request_link(web, smtp_sink, address)
    opened = web.get(link)
    assert opened.status_code == 302
    assert opened.headers["Location"] == NEW_PASSWORD_PAGE
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    form = web.get(NEW_PASSWORD_PAGE)
    token = link.rsplit("/", 1)[1]
    assert form.status_code == 200 and token not in page(form)
    assert form.headers["Referrer-Policy"] == "same-origin"  # and its URL holds no token
    assert landed(web.submit(NEW_PASSWORD_PAGE, {"password": NEW_PASSWORD})) == "/auth/login"


def test_the_password_form_without_an_opened_link_sends_to_the_request_page(web):
    answer = web.get(NEW_PASSWORD_PAGE, follow_redirects=True)
    assert landed(answer) == "/auth/reset"
    assert "not valid" in page(answer)
