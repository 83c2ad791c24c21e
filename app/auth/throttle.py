"""Rate limits of the account pages: per IP on every form, per account and per IP on
emailed codes and links, and on logins as OWASP describes (`begin_login`).

Counted with `limits` (moving windows) in RATELIMIT_STORAGE_URI, Redis when REDIS_URL is
set, so they hold across every gunicorn worker and machine. Only the account pages call
this: the ingestion hot path keeps its own limiter and pays nothing for these.
"""

from __future__ import annotations

import logging
import math
import time

from flask import current_app, request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import ServiceUnavailable

from app.extensions import PerApp

log = logging.getLogger(__name__)
KEY_PREFIX = "lvd-auth"


class Throttled(Exception):
    """A budget is spent; `retry_after` says in how many seconds it has room again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def build_limiter(uri: str) -> MovingWindowRateLimiter:
    """The account pages' limiter on the configured storage (nothing connects yet)."""
    options = {"socket_connect_timeout": 2, "socket_timeout": 2} if uri.startswith("redis") else {}
    return MovingWindowRateLimiter(storage_from_string(uri, **options))


def client_ip() -> str:
    """Return the client's address (behind proxies, set PROXY_FIX_X_FOR so it is the real one)."""
    return request.remote_addr or "unknown"


Budget = tuple[RateLimitItem, tuple[str, ...]]


def _budgets(scope: str, account: str | None, account_limit: str, ip_limit: str | None):
    """Return (limit, identifiers) for the account (if any) and the client IP."""
    config = current_app.config
    budgets: list[Budget] = []
    if account is not None:
        key = account.strip().lower()
        budgets.append((parse(config[account_limit]), (KEY_PREFIX, scope, "account", key)))
    ip_item = parse(config[ip_limit or account_limit])
    budgets.append((ip_item, (KEY_PREFIX, scope, "ip", client_ip())))
    return budgets


def spend(scope: str, account: str | None, account_limit: str, ip_limit: str | None = None):
    """Count one request against the account's and the IP's budgets; raise Throttled if spent.

    The limits name settings (e.g. OTP_REQUEST_LIMIT); the IP uses `ip_limit` if given.
    """
    for item, identifiers in _budgets(scope, account, account_limit, ip_limit):
        if not _call("hit", item, identifiers):
            raise Throttled(_wait(item, identifiers))


def check(scope: str, account: str, account_limit: str, ip_limit: str | None = None) -> None:
    """Raise Throttled if either budget is spent, without counting anything."""
    for item, identifiers in _budgets(scope, account, account_limit, ip_limit):
        if not _call("test", item, identifiers):
            raise Throttled(_wait(item, identifiers))


def record(scope: str, account: str, account_limit: str, ip_limit: str | None = None) -> None:
    """Count one event (a failed login) against both budgets."""
    for item, identifiers in _budgets(scope, account, account_limit, ip_limit):
        _call("hit", item, identifiers)


def begin_login(account: str) -> None:
    """Count a login attempt before its password is checked; raise Throttled when spent.

    Guesses are limited per client and account together (LOGIN_FAILURE_LIMIT) and per
    client (LOGIN_FAILURE_LIMIT_IP), so failures from other addresses never lock the owner
    out. The attempt is counted first, atomically (a Redis script), so parallel bursts
    cannot pass the budget between a check and a count. Once the account's own, larger
    budget (LOGIN_FAILURE_LIMIT_ACCOUNT) is spent by failures from many clients, only a
    client without failures of its own may still try.
    """
    config = current_app.config
    pair = _login_pair(account)
    account_budget = _login_account(account)
    if not _call("test", *account_budget) and _spent_any(*pair):
        raise Throttled(_wait(*account_budget))
    ip_budget = (parse(config["LOGIN_FAILURE_LIMIT_IP"]), (KEY_PREFIX, "login", "ip", client_ip()))
    for item, identifiers in (ip_budget, pair):
        if not _call("hit", item, identifiers):
            raise Throttled(_wait(item, identifiers))


def login_failed(account: str) -> None:
    """Count a wrong password against the account's own budget too."""
    _call("hit", *_login_account(account))


def login_succeeded(account: str) -> None:
    """Forget this client's attempts on the account: its next login starts afresh."""
    item, identifiers = _login_pair(account)
    _call("clear", item, identifiers)


def _login_pair(account: str) -> Budget:
    key = account.strip().lower()
    item = parse(current_app.config["LOGIN_FAILURE_LIMIT"])
    return item, (KEY_PREFIX, "login", "pair", client_ip(), key)


def _login_account(account: str) -> Budget:
    item = parse(current_app.config["LOGIN_FAILURE_LIMIT_ACCOUNT"])
    return item, (KEY_PREFIX, "login", "account", account.strip().lower())


def _spent_any(item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
    stats = auth_limiter.state().get_window_stats(item, *identifiers)
    return stats.remaining < item.amount


def _call(method: str, item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
    try:
        return getattr(auth_limiter.state(), method)(item, *identifiers)
    except Exception as exc:
        # Fail closed: without its counters, login would be open to guessing.
        log.error("rate-limit storage unavailable: %s", exc)
        raise ServiceUnavailable("Logging in is unavailable for a moment; try again.") from exc


def _wait(item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
    stats = auth_limiter.state().get_window_stats(item, *identifiers)
    return max(1, math.ceil(stats.reset_time - time.time()))


auth_limiter = PerApp(
    "auth_limiter", lambda app: build_limiter(app.config["RATELIMIT_STORAGE_URI"])
)
