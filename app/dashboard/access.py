"""Membership checks for every app-level page or API a developer uses."""

from __future__ import annotations

import uuid

from flask import abort
from flask_login import current_user

from app.auth.sessions import poll_trust
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
    POLL_TRUST_SECONDS in this process (`poll_trust`), and the app row is not loaded.
    """
    if not current_user.is_authenticated:
        abort(404)
    key = (current_user.id, app_id)
    if poll_trust.trusted("membership", key):
        return app_id
    if role_of(current_user.id, app_id) is None:
        abort(404)
    poll_trust.remember("membership", key)
    return app_id
