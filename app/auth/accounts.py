"""Account lifecycle: register, confirm, authenticate, reset password, operator-created users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth import clock, otp, tokens
from app.auth.addresses import InvalidAddress, check_address
from app.auth.passwords import burn_time, check_policy, hash_password, verify_password
from app.extensions import db
from app.mail import notifications
from app.models import User


class AccountError(ValueError):
    """A request refused with a message meant for the user or operator."""


def normalize_email(email: str) -> str:
    """Return the stored form of an address: trimmed and lowercased."""
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def register(email: str, password: str) -> User | None:
    """Create an unconfirmed account and send the welcome mail with its confirmation link.

    A taken address gets a note to its owner instead, and the caller answers the same way,
    so registration does not reveal which addresses have accounts. Raises PasswordRefused.
    """
    check_policy(password)
    email = normalize_email(email)
    password_hash = hash_password(password)
    if find_user(email) is not None:
        notifications.account_exists(email)
        return None
    user = User(email=email, password_hash=password_hash, session_epoch=0, is_admin=_first())
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # registered concurrently
        db.session.rollback()
        notifications.account_exists(email)
        return None
    notifications.welcome(email, tokens.link(tokens.issue(user, "confirm"), "confirm"))
    return user


def send_confirmation(user: User) -> None:
    """Send another confirmation link (any one of them confirms the address, once)."""
    notifications.confirm_again(user.email, tokens.link(tokens.issue(user, "confirm"), "confirm"))


def confirm(token: str) -> User | None:
    """Confirm the address behind a confirmation link; None if the link is not valid."""
    row = tokens.redeem(token, ("confirm",))
    if row is None:
        return None
    user = row.user
    user.confirmed_at = user.confirmed_at or clock.now()
    tokens.void_all(user.id, purpose="confirm")
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user whose password this is (rehashing it if the cost changed), else None."""
    user = find_user(email)
    if user is None:
        burn_time(password)
        return None
    matches, needs_rehash = verify_password(user.password_hash, password)
    if not matches:
        return None
    if needs_rehash:
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def request_reset(email: str, minutes: int) -> None:
    """Mail a reset link if the address has an account; do nothing visible otherwise."""
    user = find_user(email)
    if user is None:
        return
    link = tokens.link(tokens.issue(user, "reset"), "reset")
    notifications.password_reset(user.email, link, minutes)


def reset_password(token: str, password: str) -> User | None:
    """Set a new password from a reset or set-password link and end every session.

    Returns None when the link is not valid. Raises PasswordRefused before using the link up.
    """
    check_policy(password)
    password_hash = hash_password(password)
    row = tokens.redeem(token, ("reset", "set_password"))
    if row is None:
        return None
    user = row.user
    now = clock.now()
    user.password_hash = password_hash
    user.confirmed_at = user.confirmed_at or now  # the link proved the mailbox
    end_all_sessions(user)
    otp.void_all(user.id, now)
    tokens.void_all(user.id, now)
    db.session.commit()
    notifications.password_changed(user.email)
    return user


def end_all_sessions(user: User) -> None:
    """Invalidate every session of the user (the caller commits)."""
    user.session_epoch += 1


def create_confirmed(email: str) -> tuple[User, str]:
    """Create a confirmed account without a password; return it with a password-set link."""
    email = normalize_email(email)
    try:
        check_address(email)
    except InvalidAddress as exc:
        raise AccountError(f"{email!r} is not a valid email address: {exc}") from None
    if find_user(email) is not None:
        raise AccountError(f"a user with email {email!r} already exists")
    user = User(
        email=email,
        password_hash=None,
        confirmed_at=clock.now(),
        session_epoch=0,
        is_admin=_first(),
    )
    db.session.add(user)
    db.session.commit()
    return user, tokens.link(tokens.issue(user, "set_password"), "set_password")


def make_admin(email: str) -> User:
    """Let an account see the installation's system page; raise AccountError if unknown."""
    user = find_user(email)
    if user is None:
        raise AccountError(f"no user with email {normalize_email(email)!r}")
    user.is_admin = True
    db.session.commit()
    return user


def _first() -> bool:
    """True while no account exists: the first one administers the installation."""
    return db.session.scalar(select(User.id).limit(1)) is None
