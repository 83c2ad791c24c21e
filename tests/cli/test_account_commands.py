"""`flask users create` and `flask apps create --owner`: accounts for operators."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import App, Membership, User
from tests.accounts import Web, landed, log_in, page, unique_email


def run(app, *args: str, code: int = 0) -> dict:
    result = app.test_cli_runner().invoke(args=[*args, "--json"])
    assert result.exit_code == code, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def test_users_create_makes_a_confirmed_user_with_a_single_use_password_link(app, web, smtp_sink):
    address = unique_email("ops")
    data = run(app, "users", "create", address.upper())
    assert data["email"] == address
    assert data["password_set_link"].startswith(app.config["PUBLIC_URL"] + "/auth/reset/")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == address))
        assert user.confirmed_at is not None and user.password_hash is None

    # No password yet: logging in is refused like any wrong password.
    refused = web.submit("/auth/login", {"email": address, "password": "anything at all"})
    assert "Invalid email or password." in page(refused)

    path = data["password_set_link"].removeprefix(app.config["PUBLIC_URL"])
    web.get(path)  # the link's token moves into the session
    assert landed(web.submit("/auth/reset/new", {"password": "operator chosen pass"})) == (
        "/auth/login"
    )
    assert "not valid" in page(web.get(path, follow_redirects=True))
    assert landed(log_in(Web(app.test_client()), smtp_sink, address, "operator chosen pass")) == (
        "/apps"
    )


@pytest.mark.parametrize(
    ("address", "message"),
    [("not-an-email", "not a valid email address"), (None, "already exists")],
)
def test_users_create_refuses_bad_or_taken_addresses(app, make_user, address, message):
    data = run(app, "users", "create", address or make_user(), code=1)
    assert message in data["error"]


def test_apps_create_with_owner_makes_the_user_its_owner(app, make_user):
    owner = make_user()
    name = f"owned-{uuid.uuid4().hex[:8]}"
    data = run(app, "apps", "create", name, "--owner", owner)
    assert data["owner"] == owner and data["ingest_key"].startswith("lvd_")
    with app.app_context():
        role = db.session.scalar(
            select(Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(Membership.app_id == uuid.UUID(data["id"]), User.email == owner)
        )
    assert role == "owner"


def test_apps_create_with_an_unknown_owner_fails_and_creates_nothing(app):
    name = f"orphan-{uuid.uuid4().hex[:8]}"
    data = run(app, "apps", "create", name, "--owner", "nobody@example.com", code=1)
    assert "no developer with email" in data["error"]
    with app.app_context():
        assert db.session.scalar(select(App).where(App.name == name)) is None


def test_apps_add_member_gives_an_existing_app_an_owner(app, make_user):
    created = run(app, "apps", "create", f"legacy-{uuid.uuid4().hex[:8]}")
    owner = make_user()
    data = run(app, "apps", "add-member", created["name"], owner, "--role", "owner")
    assert data == {"id": created["id"], "email": owner, "role": "owner"}
    again = run(app, "apps", "add-member", created["id"], owner, code=1)
    assert "already a member" in again["error"]
    unknown = run(app, "apps", "add-member", created["id"], "nobody@example.com", code=1)
    assert "no developer with email" in unknown["error"]


def _signed_in(app, address: str):
    """A test client carrying a session for `address`, made the way complete_login does."""
    from datetime import UTC, datetime

    from app.auth.accounts import find_user

    client = Web(app.test_client()).client
    with app.app_context():
        session_id = find_user(address).get_id()
    with client.session_transaction() as session:
        session.permanent = True
        session["_user_id"] = session_id
        session["_fresh"] = True
        session["login_at"] = session["seen_at"] = datetime.now(UTC).timestamp()
    return client


def test_users_make_admin_opens_the_system_page(app, make_user):
    address = make_user()
    client = _signed_in(app, address)
    assert client.get("/system").status_code == 404
    data = run(app, "users", "make-admin", address.upper())
    assert data == {"id": data["id"], "email": address, "is_admin": True}
    assert client.get("/system").status_code == 200
    refused = run(app, "users", "make-admin", unique_email("nobody"), code=1)
    assert "no user with email" in refused["error"]


def test_the_first_account_of_an_installation_is_its_admin(app, tmp_path):
    from flask_migrate import upgrade

    from app.auth import accounts
    from app.config import PROJECT_ROOT, engine_options
    from tests.support.factories import app_with

    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    fresh = {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url)}
    with app_with(app, fresh) as installation, installation.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        first, _link = accounts.create_confirmed(unique_email("first"))
        second, _link = accounts.create_confirmed(unique_email("second"))
        assert (first.is_admin, second.is_admin) == (True, False)
