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


def test_every_form_post_counts_against_the_client_address(web, app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_RATE_LIMIT", "3 per minute")
    for _ in range(3):
        assert web.submit("/auth/reset", {"email": "a@example.com"}).status_code == 200
    refused = web.submit("/auth/reset", {"email": "a@example.com"})
    assert refused.status_code == 429
    assert "Too many requests from your address" in page(refused)
    assert int(refused.headers["Retry-After"]) > 0


def test_without_the_counter_store_logins_are_refused_not_unlimited(web, app, monkeypatch):
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    from tests.support.servers import free_port

    dead = storage_from_string(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    monkeypatch.setitem(app.extensions, "auth_limiter", MovingWindowRateLimiter(dead))
    answer = web.submit("/auth/login", {"email": "a@example.com", "password": PASSWORD})
    assert answer.status_code == 503
