"""Password reset: a single-use link valid 30 minutes that ends every session."""

from __future__ import annotations

import pytest

from tests.accounts import PASSWORD, Web, landed, link_in, log_in, page, text_of

NEW_PASSWORD = "a brand new passphrase"
SAME_ANSWER = "If an account exists for that address, we sent it a link"


def request_link(web, smtp_sink, address: str) -> str:
    before = len(smtp_sink.received(address, "Reset your"))
    answer = web.submit("/auth/reset", {"email": address})
    assert SAME_ANSWER in page(answer)
    mail = smtp_sink.wait_for(address, "Reset your", count=before + 1)
    assert "30 minutes" in text_of(mail)
    return link_in(mail)


def test_reset_link_works_once_and_ends_other_sessions(web, app, smtp_sink, make_user):
    address = make_user()
    log_in(web, smtp_sink, address)
    other_device = Web(app.test_client())
    log_in(other_device, smtp_sink, address)
    assert landed(other_device.get("/apps", follow_redirects=True)) == "/apps"

    link = request_link(Web(app.test_client()), smtp_sink, address)
    resetter = Web(app.test_client())
    done = resetter.submit(link, {"password": NEW_PASSWORD})
    assert landed(done) == "/auth/login"
    assert "every session was logged out" in page(done)
    assert smtp_sink.wait_for(address, "password was changed")

    for device in (web, other_device):
        answer = device.get("/apps", follow_redirects=True)
        assert landed(answer) == "/auth/login"
    again = resetter.submit(link, {"password": "yet another passphrase"}, page="/auth/reset")
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
        assert landed(answer) == link
        assert landed(web.submit(link, {"password": NEW_PASSWORD})) == "/auth/login"
    else:
        assert landed(answer) == "/auth/reset"
        assert "not valid" in page(answer)


def test_a_refused_new_password_keeps_the_link_usable(web, smtp_sink, make_user):
    address = make_user()
    link = request_link(web, smtp_sink, address)
    refused = web.submit(link, {"password": "short"})
    assert landed(refused) == link
    assert "Use 10 to 128 characters" in page(refused)
    assert landed(web.submit(link, {"password": NEW_PASSWORD})) == "/auth/login"


def test_reset_answers_the_same_for_an_unknown_address_and_sends_nothing(web, smtp_sink):
    address = "nobody-at-all@example.com"
    answer = web.submit("/auth/reset", {"email": address})
    assert landed(answer) == "/auth/login"
    assert SAME_ANSWER in page(answer)
    assert smtp_sink.received(address) == []
