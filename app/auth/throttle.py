"""Per-account and per-IP budgets for failed logins and for emailed codes and links.

Counted by Flask-Limiter's rate limiter, so they live in the same storage as its route
limits (Redis when REDIS_URL is set) and hold across every gunicorn worker.
"""

from __future__ import annotations

import math
import time

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from app.extensions import limiter


class Throttled(Exception):
    """A budget is spent; `retry_after` says in how many seconds it has room again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


Budget = tuple[RateLimitItem, tuple[str, ...]]


def _budgets(scope: str, account: str, account_limit: str, ip_limit: str | None) -> list[Budget]:
    """Return (limit, identifiers) for the account and the client IP; limits name settings."""
    config = current_app.config
    prefix = config["RATELIMIT_KEY_PREFIX"]
    return [
        (parse(config[account_limit]), (prefix, scope, "account", account.strip().lower())),
        (parse(config[ip_limit or account_limit]), (prefix, scope, "ip", get_remote_address())),
    ]


def spend(scope: str, account: str, account_limit: str, ip_limit: str | None = None) -> None:
    """Count one request against both budgets; raise Throttled if either is spent."""
    for item, identifiers in _budgets(scope, account, account_limit, ip_limit):
        if not limiter.limiter.hit(item, *identifiers):
            raise Throttled(_wait(item, identifiers))


def check(scope: str, account: str, account_limit: str, ip_limit: str | None = None) -> None:
    """Raise Throttled if either budget is spent, without counting anything."""
    for item, identifiers in _budgets(scope, account, account_limit, ip_limit):
        if not limiter.limiter.test(item, *identifiers):
            raise Throttled(_wait(item, identifiers))


def record(scope: str, account: str, account_limit: str, ip_limit: str | None = None) -> None:
    """Count one event (a failed login) against both budgets."""
    for item, identifiers in _budgets(scope, account, account_limit, ip_limit):
        limiter.limiter.hit(item, *identifiers)


def _wait(item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
    reset_at, _remaining = limiter.limiter.get_window_stats(item, *identifiers)
    return max(1, math.ceil(reset_at - time.time()))
