"""Fixtures of the dashboard tests: developers with a session, apps with stored events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tests.accounts import Web


@pytest.fixture
def sign_in(app):
    """Return sign_in(email, client=None): a test client carrying that developer's session.

    The session is made the way `complete_login` makes it; the login flow itself (password,
    mailed code) is proven in tests/auth.
    """
    from app.auth.accounts import find_user

    def sign(address: str, client=None) -> Web:
        client = client or app.test_client()
        with app.app_context():
            user = find_user(address)
            session_id = user.get_id()
        now = datetime.now(UTC).timestamp()
        with client.session_transaction() as session:
            session.permanent = True
            session["_user_id"] = session_id
            session["_fresh"] = True
            session["login_at"] = session["seen_at"] = now
        return Web(client)

    return sign


@pytest.fixture
def team(app, make_user, sign_in):
    """A developer who owns a fresh app, and a stranger: {"app_id", "key", "owner", "stranger"}."""
    from app.auth.accounts import find_user
    from app.store import catalog

    owner_email = make_user()
    stranger_email = make_user()
    with app.app_context():
        created, key = catalog.create_app(
            f"dash-{uuid.uuid4().hex[:10]}", owner_id=find_user(owner_email).id
        )
        app_id = str(created.id)
    return {
        "app_id": app_id,
        "key": key,
        "owner_email": owner_email,
        "owner": sign_in(owner_email),
        "stranger": sign_in(stranger_email),
    }
