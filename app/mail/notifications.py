"""Account emails: rendered from templates/emails/<name>.html + .txt and queued by task name.

Account mails (codes, resets, confirmations) go to the `emails_priority` queue, which a
pool of its own consumes, so they never wait behind bulk mail; invitations, like other
bulk mail, go to `emails`. Both carry the same task, `send_email_async`.
"""

from __future__ import annotations

import logging

from flask import current_app, render_template

from app.celery_client import celery_client
from app.mail.delivery import build_message, deliver
from celery_config import (
    EMAIL_PRIORITY_QUEUE,
    EMAIL_QUEUE,
    PUBLISH_RETRY_POLICY,
    SEND_EMAIL_TASK,
)

log = logging.getLogger(__name__)

PRODUCT = "Live Validation Dashboard"


def send(to: str, template: str, subject: str, **context) -> bool:
    """Queue an account mail ahead of bulk mail; return False if it could not be queued."""
    return _queue_mail(EMAIL_PRIORITY_QUEUE, to, template, subject, context)


def send_bulk(to: str, template: str, subject: str, **context) -> bool:
    """Queue a mail that may wait behind others; return False if it could not be queued."""
    return _queue_mail(EMAIL_QUEUE, to, template, subject, context)


def _queue_mail(queue: str, to: str, template: str, subject: str, context: dict) -> bool:
    """Render a template pair and queue it for `to` on `queue`."""
    html_body, text_body = render(template, context)
    return queue_rendered(queue, to, subject, html_body, text_body, template)


def render(template: str, context: dict) -> tuple[str, str]:
    """The HTML and text bodies of a template pair."""
    context = {"product": PRODUCT, "public_url": current_app.config["PUBLIC_URL"], **context}
    html_body = render_template(f"emails/{template}.html", **context)
    text_body = render_template(f"emails/{template}.txt", **context)
    return html_body, text_body


def queue_rendered(
    queue: str, to: str, subject: str, html_body: str, text_body: str, template: str = "mail"
) -> bool:
    """Queue a rendered mail on `queue`; return False if it could not be queued."""
    if not current_app.config.get("CELERY_ENABLED", True):
        return _deliver_inline(to, subject, html_body, text_body)
    try:
        # This app's own Celery, not the process-wide current one (several apps may exist).
        celery_client.submit(
            SEND_EMAIL_TASK,
            (to, subject, html_body, text_body),
            queue=queue,
            # What workers log and monitors (Flower) show: never the bodies, which hold codes.
            argsrepr=repr((to, subject)),
            kwargsrepr="{}",
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
    except Exception:
        log.exception("could not queue the %r mail to %s", template, to)
        return False
    return True


def _deliver_inline(to: str, subject: str, html_body: str, text_body: str) -> bool:
    """Inline mode (CELERY_ENABLED=false): send the mail in the request (no retries)."""
    config = current_app.config
    message = build_message(config["MAIL_DEFAULT_SENDER"], to, subject, html_body, text_body)
    try:
        deliver(message, config)
    except OSError:
        log.exception("could not send the mail to %s", to)
        return False
    return True


def absolute(endpoint: str, **values) -> str:
    """Return a link for mails: PUBLIC_URL + the endpoint's path, never the request's Host.

    Works outside requests too (CLI), since it builds the path from the URL map alone.
    """
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["PUBLIC_URL"] + path


def welcome(to: str, confirm_link: str) -> bool:
    """Welcome a new developer and ask them to confirm their address."""
    return send(to, "welcome", f"Welcome to {PRODUCT}: confirm your email", link=confirm_link)


def confirm_again(to: str, confirm_link: str) -> bool:
    """Send a fresh confirmation link."""
    return send(to, "confirm_email", f"Confirm your email for {PRODUCT}", link=confirm_link)


def account_exists(to: str) -> bool:
    """Tell the owner of an address that someone tried to register it again."""
    return send(to, "account_exists", f"{PRODUCT}: you already have an account")


def login_code(to: str, code: str) -> bool:
    """Send a one-time login code (logged too when mails only go to files)."""
    if not current_app.config["MAIL_SERVER"]:
        # Standalone convenience: with no SMTP server the mail is a file; show the code too.
        log.warning("login code for %s: %s (MAIL_SERVER unset: mail written to files)", to, code)
    return send(to, "login_code", f"Your {PRODUCT} login code", code=code)


def password_reset(to: str, reset_link: str, minutes: int) -> bool:
    """Send a single-use password reset link."""
    return send(
        to, "password_reset", f"Reset your {PRODUCT} password", link=reset_link, minutes=minutes
    )


def password_changed(to: str) -> bool:
    """Tell a developer their password was changed and their sessions ended."""
    return send(to, "password_changed", f"Your {PRODUCT} password was changed")


def invitation(to: str, app_name: str, invited_by: str, app_link: str) -> bool:
    """Tell a developer they were added to an app."""
    return send_bulk(
        to,
        "invitation",
        f"{invited_by} added you to {app_name} on {PRODUCT}",
        app_name=app_name,
        invited_by=invited_by,
        link=app_link,
    )
