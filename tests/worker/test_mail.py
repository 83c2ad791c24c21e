"""Mail delivery: template pairs, retry with backoff while SMTP is down, permanent refusals."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from app.mail.delivery import is_transient
from tests.accounts import landed, unique_email
from tests.support.environment import PROJECT_ROOT
from tests.support.processes import wait_for

EMAIL_TEMPLATES = sorted(
    path.stem for path in (PROJECT_ROOT / "templates" / "emails").glob("[!_]*.html")
)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (smtplib.SMTPServerDisconnected("gone"), True),
        (smtplib.SMTPConnectError(421, b"busy"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("timed out"), True),
        (OSError(101, "network is unreachable"), True),
        (smtplib.SMTPResponseException(421, b"try later"), True),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"greylisted")}), True),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}), False),
        (smtplib.SMTPSenderRefused(553, b"sender refused", "x@example.com"), False),
        (smtplib.SMTPDataError(554, b"rejected as spam"), False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
    ],
)
def test_which_errors_are_retried(error, transient):
    assert is_transient(error) is transient


@pytest.mark.parametrize("name", EMAIL_TEMPLATES)
def test_every_email_is_a_template_pair_naming_the_product(app, name):
    from flask import render_template

    assert (PROJECT_ROOT / "templates" / "emails" / f"{name}.txt").exists()
    context = {
        "product": "Live Validation Dashboard",
        "public_url": "http://lvd.test",
        "link": "http://lvd.test/auth/x",
        "code": "123456",
        "minutes": 30,
        "app_name": "shop",
        "invited_by": "owner@example.com",
    }
    with app.test_request_context():
        html = render_template(f"emails/{name}.html", **context)
        text = render_template(f"emails/{name}.txt", **context)
    assert "Live Validation Dashboard" in html and "Live Validation Dashboard" in text
    assert "<" not in text  # the plain part is plain


def test_mail_is_delivered_once_smtp_is_back_and_requests_never_wait(
    web, smtp_sink, emails_worker, make_user
):
    address = make_user()
    smtp_sink.stop()
    try:
        answer = web.submit("/auth/reset", {"email": address})
        assert landed(answer) == "/auth/login"  # the request returned while SMTP is down
        assert web.get("/auth/register").status_code == 200
        wait_for(lambda: f"mail to {address} failed" in emails_worker.output(), timeout=30)
        assert smtp_sink.received(address) == []
    finally:
        smtp_sink.start()
    delivered = smtp_sink.wait_for(address, "Reset your", timeout=30)
    assert "/auth/reset/" in delivered.get_body(preferencelist=("plain",)).get_content()


def test_a_permanent_refusal_is_logged_once_and_not_retried(app, smtp_sink, emails_worker):
    address = f"refuse-{unique_email()}"
    result = app.extensions["celery"].send_task(
        "send_email_async", (address, "Refused", "<p>hi</p>", "hi")
    )
    wait_for(result.ready, timeout=30)
    assert result.result["sent"] is False
    assert "550" in result.result["error"]
    output = emails_worker.output()
    assert output.count(f"mail to {address} refused permanently") == 1
    assert f"mail to {address} failed" not in output


def test_without_a_mail_server_mails_become_eml_files(app, tmp_path):
    from app.mail.delivery import build_message, deliver

    message = build_message("LVD <no-reply@lvd.test>", "a@example.com", "Hi", "<p>hi</p>", "hi")
    where = Path(deliver(message, {"MAIL_SERVER": None, "INSTANCE_PATH": str(tmp_path)}))
    assert where.parent == tmp_path / "mail" and where.suffix == ".eml"
    assert b"Subject: Hi" in where.read_bytes()
