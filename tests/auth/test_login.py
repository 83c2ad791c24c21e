"""Two-step login: password, then a 6-digit code from the mail; the session that follows."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.config import Config
from tests.accounts import PASSWORD, Web, code_in, landed, log_in, page, random_ip

REFUSED = "This code no longer works"
WRONG = "That code is not right"


def password_step(web, smtp_sink, address: str, password: str = PASSWORD) -> str:
    """Pass the password step; return the code from the newest login-code mail."""
    before = len(smtp_sink.received(address, "login code"))
    answer = web.submit("/auth/login", {"email": address, "password": password})
    assert landed(answer) == "/auth/otp", page(answer)
    return code_in(smtp_sink.wait_for(address, "login code", count=before + 1))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_login_lands_on_apps_on_a_regenerated_session(web, smtp_sink, make_user):
    address = make_user()
    assert landed(web.get("/apps", follow_redirects=True)) == "/auth/login"
    code = password_step(web, smtp_sink, address)
    pending_cookie = web.session_cookie()
    # Half-way is not logged in.
    assert landed(web.get("/apps", follow_redirects=True)) == "/auth/login"
    code_page = web.get("/auth/otp")
    assert address in page(code_page)

    answer = web.submit("/auth/otp", {"code": code})
    assert landed(answer) == "/apps"
    assert "Your apps" in page(answer)
    assert web.session_cookie() != pending_cookie
    mail = smtp_sink.received(address, "login code")[-1]
    assert mail["Subject"] == "Your Live Validation Dashboard login code"
    assert mail.get_content_type() == "multipart/alternative"


def test_a_code_works_once(web, app, smtp_sink, make_user):
    address = make_user()
    code = password_step(web, smtp_sink, address)
    replay = Web(app.test_client())
    replay.client.set_cookie("session", web.session_cookie())

    assert landed(web.submit("/auth/otp", {"code": code})) == "/apps"
    second = replay.submit("/auth/otp", {"code": code})
    assert landed(second) == "/auth/otp"
    assert REFUSED in page(second)
    assert landed(replay.get("/apps", follow_redirects=True)) == "/auth/login"


def test_a_wrong_code_is_refused_and_the_right_one_still_works(web, smtp_sink, make_user):
    address = make_user()
    code = password_step(web, smtp_sink, address)
    refused = web.submit("/auth/otp", {"code": wrong(code)})
    assert WRONG in page(refused)
    for malformed in ("12345", "abcdef", "1234567"):
        assert WRONG in page(web.submit("/auth/otp", {"code": malformed}))
    assert landed(web.submit("/auth/otp", {"code": code})) == "/apps"


@pytest.mark.parametrize(
    ("moved", "accepted"),
    [({"minutes": 9, "seconds": 50}, True), ({"minutes": 10, "seconds": 1}, False)],
)
def test_a_code_expires_after_ten_minutes(web, smtp_sink, make_user, move_clock, moved, accepted):
    address = make_user()
    code = password_step(web, smtp_sink, address)
    move_clock(**moved)
    answer = web.submit("/auth/otp", {"code": code})
    if accepted:
        assert landed(answer) == "/apps"
    else:
        assert landed(answer) == "/auth/otp"
        assert REFUSED in page(answer)


def test_five_wrong_codes_void_it(web, smtp_sink, make_user):
    address = make_user()
    code = password_step(web, smtp_sink, address)
    for _ in range(4):
        assert WRONG in page(web.submit("/auth/otp", {"code": wrong(code)}))
    assert REFUSED in page(web.submit("/auth/otp", {"code": wrong(code)}))
    answer = web.submit("/auth/otp", {"code": code})
    assert landed(answer) == "/auth/otp"
    assert REFUSED in page(answer)


def test_a_new_code_voids_the_previous_one(web, smtp_sink, make_user):
    address = make_user()
    old = password_step(web, smtp_sink, address)
    resent = web.submit("/auth/otp/resend", page="/auth/otp")
    assert "We sent a new code" in page(resent)
    new = code_in(smtp_sink.wait_for(address, "login code", count=2))
    refused = web.submit("/auth/otp", {"code": old})
    assert landed(refused) == "/auth/otp"
    assert WRONG in page(refused)  # checked against the new code, which it is not
    assert landed(web.submit("/auth/otp", {"code": new})) == "/apps"


@pytest.mark.parametrize("address_known", [True, False])
def test_a_failed_login_answers_the_same_for_known_and_unknown_emails(
    web, make_user, address_known
):
    address = make_user() if address_known else "nobody-here@example.com"
    answer = web.submit("/auth/login", {"email": address, "password": "wrong password 1"})
    assert landed(answer) == "/auth/login"
    assert "Invalid email or password." in page(answer)


@pytest.mark.parametrize("address_known", [True, False])
def test_failed_logins_are_rate_limited_per_client_and_account(
    web, smtp_sink, make_user, address_known
):
    address = make_user() if address_known else "nobody-there@example.com"
    for _ in range(5):
        answer = web.submit("/auth/login", {"email": address, "password": "wrong password 1"})
        assert "Invalid email or password." in page(answer)
    blocked = web.submit("/auth/login", {"email": address, "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed logins. Try again in" in page(blocked)


def test_other_clients_failures_never_lock_the_owner_out(app, smtp_sink, make_user):
    address = make_user()
    for _ in range(3):
        attacker = Web(app.test_client())
        for _ in range(5):
            attacker.submit("/auth/login", {"email": address, "password": "wrong password 1"})
        refused = attacker.submit("/auth/login", {"email": address, "password": PASSWORD})
        assert refused.status_code == 429
    owner = Web(app.test_client())
    assert landed(log_in(owner, smtp_sink, address)) == "/apps"


def test_a_spent_account_budget_still_lets_a_client_without_failures_in(
    app, smtp_sink, make_user, monkeypatch
):
    monkeypatch.setitem(app.config, "LOGIN_FAILURE_LIMIT_ACCOUNT", "3 per 15 minutes")
    address = make_user()
    attackers = [Web(app.test_client()) for _ in range(3)]
    for attacker in attackers:
        attacker.submit("/auth/login", {"email": address, "password": "wrong password 1"})
    # The account's budget is spent: a client with failures of its own is refused...
    refused = attackers[0].submit("/auth/login", {"email": address, "password": PASSWORD})
    assert refused.status_code == 429
    # ...and one without any passes with the right password.
    assert landed(log_in(Web(app.test_client()), smtp_sink, address)) == "/apps"


def test_a_parallel_burst_gets_no_more_guesses_than_the_budget(app, make_user):
    address, ip = make_user(), random_ip()
    clients = [Web(app.test_client(), ip=ip) for _ in range(16)]
    tokens = [client.csrf("/auth/login") for client in clients]
    start = threading.Barrier(len(clients))

    def guess(client: Web, token: str) -> int:
        start.wait()
        data = {"csrf_token": token, "email": address, "password": "wrong password 1"}
        return client.client.post("/auth/login", data=data).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = list(pool.map(guess, clients, tokens))
    checked = [status for status in statuses if status != 429]
    assert 1 <= len(checked) <= 5, statuses


def test_logout_ends_the_session_even_for_a_copied_cookie(web, app, smtp_sink, make_user):
    address = make_user()
    assert landed(log_in(web, smtp_sink, address)) == "/apps"
    copied = Web(app.test_client())
    copied.client.set_cookie("session", web.session_cookie())
    assert landed(copied.get("/apps", follow_redirects=True)) == "/apps"

    answer = web.submit("/auth/logout")
    assert "You are logged out" in page(answer)
    assert landed(web.get("/apps", follow_redirects=True)) == "/auth/login"
    assert landed(copied.get("/apps", follow_redirects=True)) == "/auth/login"


@pytest.mark.parametrize(
    ("settings", "moved", "still_in"),
    [
        ({}, {"minutes": 29}, True),
        ({}, {"minutes": 31}, False),  # idle timeout (SESSION_IDLE_MINUTES=30)
        ({"SESSION_IDLE_MINUTES": 24 * 60}, {"hours": 11}, True),
        ({"SESSION_IDLE_MINUTES": 24 * 60}, {"hours": 13}, False),  # SESSION_MAX_HOURS=12
    ],
)
def test_idle_timeout_and_absolute_lifetime(
    web, app, smtp_sink, make_user, move_clock, monkeypatch, settings, moved, still_in
):
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    address = make_user()
    log_in(web, smtp_sink, address)
    move_clock(**moved)
    answer = web.get("/apps", follow_redirects=True)
    assert landed(answer) == ("/apps" if still_in else "/auth/login")
    if not still_in:
        assert "Your session has ended" in page(answer)


def test_session_cookie_is_httponly_and_samesite_lax(web):
    web.get("/auth/login")
    cookie = web.client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert not cookie.secure


@pytest.mark.parametrize(
    ("env", "cookie_name", "secure"),
    [
        ({}, "session", False),
        ({"PUBLIC_URL": "https://lvd.example.com"}, "__Host-session", True),
        ({"SESSION_COOKIE_SECURE": "1"}, "__Host-session", True),
        ({"PUBLIC_URL": "https://lvd.example.com", "SESSION_COOKIE_SECURE": "0"}, "session", False),
    ],
)
def test_https_sessions_use_a_secure_host_only_cookie(monkeypatch, env, cookie_name, secure):
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.setenv("METRICS_ALLOW_LOOPBACK", "0")  # https://: a proxy (app/config.py)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = Config()
    assert cookie_name == config.SESSION_COOKIE_NAME
    assert config.SESSION_COOKIE_SECURE is secure
    assert config.SESSION_COOKIE_HTTPONLY is True
    assert config.SESSION_COOKIE_SAMESITE == "Lax"


@pytest.mark.parametrize(
    ("mail_server", "logged"),
    [("127.0.0.1", False), (None, True)],  # None: standalone, mails become .eml files
)
def test_the_code_is_logged_only_when_mails_go_to_files(
    web, app, smtp_sink, emails_worker, make_user, caplog, monkeypatch, mail_server, logged
):
    monkeypatch.setitem(app.config, "MAIL_SERVER", mail_server)
    caplog.set_level(logging.DEBUG)
    address = make_user()
    code = password_step(web, smtp_sink, address)
    # Everything this process logged, except the test's own SMTP sink (aiosmtpd).
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    assert (f"login code for {address}: {code}" in ours) is logged
    if not logged:
        assert code not in ours
        assert code not in emails_worker.output()
