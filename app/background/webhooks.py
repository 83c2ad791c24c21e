"""An app's webhook: its target (checked for safety), signing secret, and deliveries.

Every POST carries `X-LVD-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body
with the app's secret (docs/background-work.md shows how to verify it).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import orjson
from sqlalchemy import select

from app.extensions import db
from app.models import AppBackgroundSettings, WebhookDelivery
from app.models.alerts import DEFAULT_RETENTION_DAYS

SIGNATURE_HEADER = "X-LVD-Signature"
# A queued delivery's first attempt starts within this, or the maintenance requeues it.
FIRST_ATTEMPT_LEASE = timedelta(minutes=10)
SECRET_PREFIX = "whsec_"


class UnsafeWebhookTarget(ValueError):
    """A webhook URL the server refuses to call."""


def settings_of(app_id: uuid.UUID) -> AppBackgroundSettings:
    """The app's background settings row, created with the defaults if missing."""
    found = db.session.get(AppBackgroundSettings, app_id)
    if found is None:
        found = AppBackgroundSettings(app_id=app_id, retention_days=DEFAULT_RETENTION_DAYS)
        db.session.add(found)
    return found


def check_target(url: str, allow_private: bool) -> list[str]:
    """The addresses `url`'s host resolves to; raise UnsafeWebhookTarget unless `url` is
    http(s) to public addresses only.

    Loopback, private, link-local, multicast and reserved addresses are refused unless
    `allow_private` (WEBHOOK_ALLOW_PRIVATE=1): the server would otherwise be a way into
    its own network. Checked when the URL is saved and again before every POST, which
    then connects to an address returned here (`background/pinned_post.py`), not to a fresh
    resolution that could answer differently (DNS rebinding).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookTarget("the webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise UnsafeWebhookTarget("the webhook URL has no host")
    if parts.username or parts.password:
        raise UnsafeWebhookTarget("the webhook URL must not carry a user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port)}
    except (OSError, ValueError) as exc:
        raise UnsafeWebhookTarget(f"the webhook host cannot be resolved: {exc}") from None
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not is_public(ip):
                raise UnsafeWebhookTarget(
                    f"the webhook host resolves to {ip}, a loopback or private address "
                    "(set WEBHOOK_ALLOW_PRIVATE=1 to allow it)"
                )
    return sorted(addresses)


# IPv6 forms that carry an IPv4 address a gateway may forward to: judged by that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
# Refused outright: deprecated or local-only forms a host or gateway may still route.
_REFUSED_V6 = tuple(
    ipaddress.ip_network(net)
    for net in (
        "::/96",  # IPv4-compatible ::a.b.c.d (RFC 4291, deprecated)
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "fec0::/10",  # site-local (RFC 3879, deprecated)
        "2001::/32",  # Teredo: tunnels to an IPv4 address
    )
)


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a global unicast address; an IPv6 one holding an IPv4 is judged by it."""
    if ip.version == 6:
        if any(ip in net for net in _REFUSED_V6):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64 or ip in _TRANSLATED:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return ip.is_global and not ip.is_multicast


def set_webhook(app_id: uuid.UUID, url: str, allow_private: bool) -> str:
    """Save the app's webhook URL with a new signing secret; return the secret (shown once)."""
    check_target(url, allow_private)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    found = settings_of(app_id)
    found.webhook_url, found.webhook_secret = url, secret
    db.session.commit()
    return secret


def remove_webhook(app_id: uuid.UUID) -> None:
    """Stop calling the app's webhook."""
    found = settings_of(app_id)
    found.webhook_url = found.webhook_secret = None
    db.session.commit()


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def add_delivery(
    app_id: uuid.UUID, kind: str, payload: dict, group_id: int | None = None
) -> int | None:
    """Record a delivery to the app's webhook (in the caller's transaction); None if it has none."""
    found = db.session.get(AppBackgroundSettings, app_id)
    if found is None or not found.webhook_url:
        return None
    body = orjson.dumps(
        {
            "type": kind,
            "app_id": str(app_id),
            "created_at": datetime.now(UTC).isoformat(),
            **payload,
        }
    ).decode()
    delivery = WebhookDelivery(
        app_id=app_id,
        kind=kind,
        error_group_id=group_id,
        url=found.webhook_url,
        body=body,
        status="pending",
        attempts=0,
        # Its one retry chain, alive while the lease lasts (background/alert_outbox.py).
        chain=secrets.token_hex(16),
        lease_until=datetime.now(UTC) + FIRST_ATTEMPT_LEASE,
    )
    db.session.add(delivery)
    db.session.flush()
    return delivery.id


def recent_deliveries(app_id: uuid.UUID, limit: int = 10) -> list[WebhookDelivery]:
    """The app's latest deliveries, newest first (what the settings page lists)."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.app_id == app_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
