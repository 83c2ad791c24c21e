"""Who may read an app's events through the test API: its read tokens and its members.

A read token comes as `Authorization: Bearer …`; an ingest key is refused (403) whether
it comes there or in X-API-Key, since it only writes. Without a token, a logged-in
member's session cookie reads too (the dashboard's detail JSON), with the page's CSRF
token on POSTs. A token of another app, like a non-member, gets 404: whether an app
exists is not told.
"""

from __future__ import annotations

import uuid

from flask import request
from flask_login import current_user

from app.dashboard.access import member_app_or_404
from app.extensions import csrf
from app.ingest.errors import ApiError
from app.store import read_tokens


def readable_app_id(app_id: uuid.UUID) -> uuid.UUID:
    """Return the app id the caller may read, or raise ApiError (401, 403, 404)."""
    token = _bearer_token()
    if token is None and request.headers.get("X-API-Key"):
        raise _write_only()
    if token is not None:
        bearer = read_tokens.identify(token)
        if bearer.is_ingest_key:
            raise _write_only()
        if bearer.read_app_id is None:
            raise ApiError(401, "invalid_token", "the read token is not valid (or was revoked)")
        if bearer.read_app_id != app_id:
            raise ApiError(404, "unknown_app", f"no app with id {str(app_id)!r}")
        return app_id
    if not current_user.is_authenticated:
        raise ApiError(
            401, "unauthorized", "send a read token as Authorization: Bearer …, or log in"
        )
    if request.method == "POST":
        csrf.protect()  # a cookie rides along with any site's form: the page's token must too
    return member_app_or_404(app_id)[0].id


def _write_only() -> ApiError:
    return ApiError(
        403, "write_only_key", "an ingest key only writes; read with the app's read token"
    )


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
