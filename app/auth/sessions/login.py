"""Login sessions: the half-way state between password and code, and full sessions.

A session is tied to the user's epoch (bumped to end all sessions), refreshed by requests
at most once a minute (idle timeout) and refused after SESSION_MAX_HOURS (absolute
lifetime).
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, g, session
from flask_login import UserMixin, login_user, logout_user

from app.auth import clock
from app.auth.sessions import poll_trust
from app.extensions import db
from app.models import User

PENDING = "pending_login"
# The idle clock moves at most this often: a page polling every second would otherwise
# rewrite (sign and send) its session cookie on every request.
SEEN_AT_STEP_SECONDS = 60
# How long the code step stays open after the password step (codes themselves last 10 min).
PENDING_LIFETIME = timedelta(minutes=30)


def begin_pending(user: User, next_url: str | None) -> None:
    """Start the code step: a fresh session that names the user but logs nobody in."""
    session.clear()
    session.permanent = True
    session[PENDING] = {
        "user_id": user.id,
        "epoch": user.session_epoch,
        "started": clock.now().timestamp(),
        "next": next_url,
    }


def pending_user() -> User | None:
    """Return the user between password and code step, if that step has not timed out."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    if clock.now().timestamp() - pending["started"] > PENDING_LIFETIME.total_seconds():
        session.pop(PENDING, None)
        return None
    user = db.session.get(User, pending["user_id"])
    if user is None or user.session_epoch != pending["epoch"]:
        session.pop(PENDING, None)
        return None
    return user


def complete_login(user: User) -> str | None:
    """Log the user in on a regenerated session; return where they wanted to go."""
    next_url = (session.get(PENDING) or {}).get("next")
    session.clear()
    session.permanent = True
    login_user(user)
    now = clock.now()
    session["login_at"] = session["seen_at"] = now.timestamp()
    user.last_login_at = now
    db.session.commit()
    return next_url


def end() -> None:
    """Forget everything in this session."""
    logout_user()
    session.clear()


def end_everywhere(user: User) -> None:
    """Log out: end this session and, since a signed cookie could be replayed, every other."""
    user.session_epoch += 1
    db.session.commit()
    end()


class PollingUser(UserMixin):
    """The user of a request that needs only their id (a live page's poll): no row loaded."""

    def __init__(self, user_id: int, session_id: str) -> None:
        self.id = user_id
        self._session_id = session_id

    def get_id(self) -> str:
        return self._session_id


def identify_by_id_only() -> None:
    """Say that this request needs only the user's id, before anything reads current_user.

    A live page polls once a second: its session is then checked against the database at
    most every POLL_TRUST_SECONDS per web process (`poll_trust`), and no user row is
    loaded.
    """
    g.identify_by_id_only = True


def load_user(session_id: str) -> User | PollingUser | None:
    """Return the session's user unless it was ended, idle too long or is too old."""
    try:
        user_id, epoch = (int(part) for part in session_id.split(":"))
    except ValueError:
        return None
    config = current_app.config
    now = clock.now().timestamp()
    login_at = session.get("login_at", 0)
    seen_at = session.get("seen_at", 0)
    if (
        now - login_at > config["SESSION_MAX_HOURS"] * 3600
        or now - seen_at > config["SESSION_IDLE_MINUTES"] * 60
    ):
        return _expired()
    by_id_only = g.get("identify_by_id_only", False)
    user: User | PollingUser | None
    if by_id_only and poll_trust.trusted("session", (user_id, epoch)):
        user = PollingUser(user_id, session_id)
    else:
        user = db.session.get(User, user_id)
        if user is None or user.session_epoch != epoch:
            return _expired()
        if by_id_only:
            poll_trust.remember("session", (user_id, epoch))
    if now - seen_at >= SEEN_AT_STEP_SECONDS:
        session["seen_at"] = now
    return user


def _expired() -> None:
    session.clear()
    flash("Your session has ended. Please log in again.", "info")
    return None
