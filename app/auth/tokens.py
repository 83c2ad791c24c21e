"""Single-use links (confirm address, reset or set password): random, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.auth import clock
from app.extensions import db
from app.mail import notifications
from app.models import AccountToken, User

ENDPOINTS = {
    "confirm": "auth.confirm",
    "reset": "auth.reset_link",
    "set_password": "auth.reset_link",
}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lifetime(purpose: str) -> timedelta:
    """Return how long a link of this purpose stays valid."""
    config = current_app.config
    if purpose == "reset":
        return timedelta(minutes=config["PASSWORD_RESET_MINUTES"])
    return timedelta(hours=config["ACCOUNT_LINK_HOURS"])


def issue(user: User, purpose: str) -> str:
    """Create a token for `user`.

    An earlier unused reset or set-password link stops working; earlier confirmation
    links keep working until one of them is used.
    """
    now = clock.now()
    if purpose != "confirm":
        _void(user.id, purpose, now)
    token = secrets.token_urlsafe(32)
    db.session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_digest(token),
            created_at=now,
            expires_at=now + lifetime(purpose),
        )
    )
    db.session.commit()
    return token


def link(token: str, purpose: str) -> str:
    """Return the absolute link for a token, on PUBLIC_URL (never on the request's Host)."""
    return notifications.absolute(ENDPOINTS[purpose], token=token)


def find(token: str, purposes: tuple[str, ...]) -> AccountToken | None:
    """Return the unused, unexpired token row, without using it up."""
    row = db.session.scalar(select(AccountToken).where(AccountToken.token_hash == _digest(token)))
    if row is None or row.purpose not in purposes or row.used_at is not None:
        return None
    if clock.as_utc(row.expires_at) <= clock.now():
        return None
    return row


def redeem(token: str, purposes: tuple[str, ...]) -> AccountToken | None:
    """Use a token up and return it; None if unknown, used, expired or of another purpose."""
    row = find(token, purposes)
    if row is None:
        return None
    # Conditional update: of two concurrent redemptions only one changes the row.
    used = db.session.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=clock.now())
    )
    if used.rowcount != 1:
        db.session.rollback()
        return None
    return row


def void_all(user_id: int, now=None, purpose: str | None = None) -> None:
    """Make the user's outstanding links (of one purpose, or all) stop working."""
    _void(user_id, purpose, now or clock.now())


def _void(user_id: int, purpose: str | None, now) -> None:
    query = update(AccountToken).where(
        AccountToken.user_id == user_id, AccountToken.used_at.is_(None)
    )
    if purpose is not None:
        query = query.where(AccountToken.purpose == purpose)
    db.session.execute(query.values(used_at=now))
