"""Login codes are limited per account and per IP: 3 per 15 minutes, refused on the 4th."""

from __future__ import annotations

import pytest

from tests.accounts import PASSWORD, Web, landed, page, random_ip

LIMITED = "Too many login codes requested. Try again in"


def test_resend_is_refused_on_the_fourth_code_request(web, smtp_sink, make_user):
    address = make_user()
    assert landed(web.submit("/auth/login", {"email": address, "password": PASSWORD})) == (
        "/auth/otp"
    )
    for _ in range(2):  # requests 2 and 3
        assert "We sent a new code" in page(web.submit("/auth/otp/resend", page="/auth/otp"))
    fourth = web.submit("/auth/otp/resend", page="/auth/otp")
    assert LIMITED in page(fourth)
    assert landed(fourth) == "/auth/otp"
    smtp_sink.wait_for(address, "login code", count=3)
    assert len(smtp_sink.received(address, "login code")) == 3


@pytest.mark.parametrize("shared", ["account", "ip"])
def test_code_requests_are_limited_per_account_and_per_ip(app, make_user, shared):
    """Four password steps that share only the account, or only the IP: the 4th is refused."""
    one_ip, one_account = random_ip(), make_user()
    answers = []
    for _ in range(4):
        ip = one_ip if shared == "ip" else random_ip()
        address = one_account if shared == "account" else make_user()
        client = Web(app.test_client(), ip=ip)
        answers.append(client.submit("/auth/login", {"email": address, "password": PASSWORD}))
    assert [landed(a) for a in answers[:3]] == ["/auth/otp"] * 3
    assert answers[3].status_code == 429
    assert LIMITED in page(answers[3])
