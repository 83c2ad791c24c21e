"""Registration: welcome mail with a single-use confirmation link; no login before it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import User
from tests.accounts import PASSWORD, landed, link_in, page, text_of, unique_email


def register(web, address: str, password: str = PASSWORD):
    return web.submit("/auth/register", {"email": address, "password": password})


def test_register_mails_a_working_single_use_link_and_login_waits_for_it(web, smtp_sink, app):
    address = unique_email()
    answer = register(web, address.upper())  # stored lowercased
    assert landed(answer) == "/auth/login"
    assert "Check your inbox" in page(answer)

    welcome = smtp_sink.wait_for(address, "confirm")
    assert "Live Validation Dashboard" in welcome["Subject"]
    assert welcome.get_content_type() == "multipart/alternative"
    assert welcome.get_body(preferencelist=("html",)) is not None
    assert "Welcome" in text_of(welcome)
    link = link_in(welcome)

    refused = web.submit("/auth/login", {"email": address, "password": PASSWORD})
    assert landed(refused) == "/auth/login"
    assert "Confirm your email address before logging in" in page(refused)

    confirmed = web.get(link, follow_redirects=True)
    assert "Your email address is confirmed" in page(confirmed)
    again = web.get(link, follow_redirects=True)
    assert "not valid" in page(again)

    step_two = web.submit("/auth/login", {"email": address, "password": PASSWORD})
    assert landed(step_two) == "/auth/otp"
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == address)).confirmed_at


def test_login_before_confirming_sends_another_link_and_either_link_works_once(web, smtp_sink):
    address = unique_email()
    register(web, address)
    first_link = link_in(smtp_sink.wait_for(address, "Welcome"))
    web.submit("/auth/login", {"email": address, "password": PASSWORD})
    second_link = link_in(smtp_sink.wait_for(address, "Confirm your email for"))
    assert second_link != first_link
    assert "is confirmed" in page(web.get(second_link, follow_redirects=True))
    assert "not valid" in page(web.get(first_link, follow_redirects=True))


@pytest.mark.parametrize(
    ("password", "accepted", "message"),
    [
        ("a" * 9, False, "Use 10 to 128 characters"),
        ("a" * 10, True, None),
        ("correct horse battery staple " * 2 + "x" * 6, True, None),  # 64 characters
        ("p" * 128, True, None),
        ("p" * 129, False, "Use 10 to 128 characters"),
        (" " * 12, False, "spaces only"),
    ],
)
def test_password_policy(web, app, password, accepted, message):
    address = unique_email()
    answer = register(web, address, password)
    with app.app_context():
        created = db.session.scalar(select(func.count()).where(User.email == address))
    assert created == (1 if accepted else 0)
    if message:
        assert landed(answer) == "/auth/register"
        assert message in page(answer)


def test_a_taken_address_gets_the_same_answer_and_a_note_to_its_owner(web, smtp_sink, app):
    address = unique_email()
    first = register(web, address)
    second = register(web, address, "another password 123")
    assert landed(first) == landed(second) == "/auth/login"
    assert "Check your inbox" in page(second)
    note = smtp_sink.wait_for(address, "already have an account")
    assert "/auth/reset" in text_of(note)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(User.email == address)) == 1
