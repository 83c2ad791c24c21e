"""Build and send emails over SMTP, or write them to files when no server is configured."""

from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

log = logging.getLogger(__name__)

MAIL_MAX_RETRIES = 3
# Errors worth retrying: the server was unreachable or went away mid-conversation.
TRANSIENT_SMTP_ERRORS = (
    smtplib.SMTPConnectError,
    smtplib.SMTPServerDisconnected,
    ConnectionError,
    TimeoutError,
)


def is_transient(error: OSError) -> bool:
    """Tell whether sending later may work: network trouble or an SMTP 4xx (try later) reply."""
    if isinstance(error, TRANSIENT_SMTP_ERRORS):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _reply in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    # Other SMTP errors are refusals; other OS errors are the network (DNS, routes).
    return not isinstance(error, smtplib.SMTPException)


def build_message(
    sender: str, to: str, subject: str, html_body: str, text_body: str | None
) -> EmailMessage:
    """Return a multipart message with a plain-text part and an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="lvd.local")
    message.set_content(text_body or "This message is best viewed in an HTML mail reader.")
    message.add_alternative(html_body, subtype="html")
    return message


def deliver(message: EmailMessage, config: dict) -> str:
    """Send via SMTP when MAIL_SERVER is set; otherwise write an .eml file. Return where."""
    if not config.get("MAIL_SERVER"):
        folder = Path(config["INSTANCE_PATH"]) / "mail"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4()}.eml"
        path.write_bytes(bytes(message))
        log.info("mail to %s written to %s", message["To"], path)
        return str(path)
    smtp_class = smtplib.SMTP_SSL if config.get("MAIL_USE_SSL") else smtplib.SMTP
    with smtp_class(config["MAIL_SERVER"], config.get("MAIL_PORT", 25), timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)
    return f"smtp://{config['MAIL_SERVER']}:{config.get('MAIL_PORT', 25)}"
