"""Who may read operators' detail: /metrics and the details of /health.

With METRICS_TOKEN set, a request must carry `Authorization: Bearer <METRICS_TOKEN>`.
Without it, loopback clients may read them only when METRICS_ALLOW_LOOPBACK is on (the
default for standalone, off otherwise): behind a proxy that is not declared with
PROXY_FIX_X_FOR, every client arrives from the proxy's address, often loopback, and
would be let in. `app.config.check_operator_access` refuses to start in that setup.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import current_app, request


def token_given() -> bool:
    """True when the request carries the configured METRICS_TOKEN as a Bearer token."""
    token = current_app.config.get("METRICS_TOKEN")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def loopback_allowed() -> bool:
    """True when no token is set, loopback is allowed, and the client is on loopback."""
    config = current_app.config
    return (
        not config.get("METRICS_TOKEN")
        and config.get("METRICS_ALLOW_LOOPBACK", False)
        and is_loopback(request.remote_addr)
    )


def operator_request() -> bool:
    """True when this request may read operators' detail."""
    return token_given() or loopback_allowed()


def is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
