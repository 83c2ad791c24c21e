"""Membership checks for every app-level page or API a developer uses."""

from __future__ import annotations

import time
import uuid

from flask import abort, current_app
from flask_login import current_user

from app.extensions import db
from app.models import App
from app.store.memberships import role_of


def member_app_or_404(app_id: uuid.UUID | str, owner: bool = False) -> tuple[App, str]:
    """Return the app and the current user's role in it.

    404 if the app does not exist or the user is not a member (so non-members cannot
    even learn that it exists); 403 if `owner` is required and the user is only a member.
    """
    if not current_user.is_authenticated:
        abort(404)
    try:
        app_uuid = app_id if isinstance(app_id, uuid.UUID) else uuid.UUID(app_id)
    except ValueError:
        abort(404)
    role = role_of(current_user.id, app_uuid)
    app = db.session.get(App, app_uuid) if role else None
    if app is None:
        abort(404)
    if owner and role != "owner":
        abort(403)
    return app, role


def polled_app_id_or_404(app_id: uuid.UUID) -> uuid.UUID:
    """Return the app id if the current user is a member, else 404, for a live page's poll.

    An open page asks once a second: a membership found is trusted for
    POLL_TRUST_SECONDS in this process (a removed member's open page may read that
    much longer), and the app row is not loaded. Refusals are never remembered.
    """
    if not current_user.is_authenticated:
        abort(404)
    seconds = current_app.config["POLL_TRUST_SECONDS"]
    remembered = current_app.extensions.setdefault("recent_memberships", {})
    key = (current_user.id, app_id)
    now = time.monotonic()
    if remembered.get(key, 0.0) > now:
        return app_id
    if role_of(current_user.id, app_id) is None:
        abort(404)
    if seconds > 0:
        if len(remembered) > 10_000:  # stale entries of closed pages
            remembered.clear()
        remembered[key] = now + seconds
    return app_id
