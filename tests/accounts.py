"""Helpers for the account tests: a real SMTP sink, a form-filling client, users and logins."""

from __future__ import annotations

import email
import email.policy
import random
import re
import threading
import uuid
from email.message import EmailMessage
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller

from tests.support.processes import wait_for
from tests.support.servers import free_port

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LINK = re.compile(r"https?://[^\s\"'<>]+")
CODE = re.compile(r"\b(\d{6})\b")


class SmtpSink:
    """An aiosmtpd server on a loopback port that keeps every message it accepts.

    Recipients starting with "refuse-" are refused with a permanent 550. `stop()` and
    `start()` take it down and bring it back on the same port.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    def start(self) -> SmtpSink:
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self, to: str, subject: str = "") -> list[EmailMessage]:
        """Return the messages to `to` whose subject contains `subject`, oldest first."""
        with self.lock:
            return [
                message
                for rcpts, message in self.messages
                if to.lower() in rcpts and subject.lower() in message["Subject"].lower()
            ]

    def wait_for(
        self, to: str, subject: str = "", count: int = 1, timeout: float = 30
    ) -> EmailMessage:
        """Return the `count`-th such message, waiting for it to arrive."""
        wait_for(lambda: len(self.received(to, subject)) >= count, timeout=timeout, interval=0.1)
        return self.received(to, subject)[count - 1]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("refuse-"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(([r.lower() for r in envelope.rcpt_tos], message))
        return "250 Message accepted"


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message: EmailMessage) -> str:
    """Return the path (and query) of the first link in a mail's text part."""
    found = LINK.search(text_of(message))
    assert found, text_of(message)
    parts = urlsplit(found.group(0))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def code_in(message: EmailMessage) -> str:
    found = CODE.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


def unique_email(prefix: str = "dev") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


class Web:
    """A test client from its own IP address that fills forms the way a browser would."""

    def __init__(self, client, ip: str | None = None) -> None:
        self.client = client
        self.client.environ_base["REMOTE_ADDR"] = ip or random_ip()

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def csrf(self, page: str) -> str:
        html = self.client.get(page).get_data(as_text=True)
        found = CSRF_FIELD.search(html)
        assert found, f"no csrf_token on {page}"
        return found.group(1)

    def submit(self, url: str, data: dict | None = None, page: str | None = None, **kwargs):
        """GET the form's page for its CSRF token, then POST the form and follow redirects."""
        fields = {"csrf_token": self.csrf(page or url), **(data or {})}
        kwargs.setdefault("follow_redirects", True)
        return self.client.post(url, data=fields, **kwargs)

    def session_cookie(self) -> str | None:
        cookie = self.client.get_cookie("session")
        return cookie.value if cookie else None


def landed(response) -> str:
    """Return the path the client ended on after redirects."""
    return response.request.path


def page(response) -> str:
    return response.get_data(as_text=True)


def log_in(web: Web, sink: SmtpSink, address: str, password: str = PASSWORD):
    """Pass both login steps with the code from the mail; return the final response."""
    codes = len(sink.received(address, "login code"))
    first = web.submit("/auth/login", {"email": address, "password": password})
    assert landed(first) == "/auth/otp", page(first)
    code = code_in(sink.wait_for(address, "login code", count=codes + 1))
    return web.submit("/auth/otp", {"code": code})
