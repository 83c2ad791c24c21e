"""/apps: a developer sees only their apps; owners invite and remove members."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from tests.accounts import Web, landed, link_in, log_in, page, unique_email


@pytest.fixture
def developer(app, web, smtp_sink, make_user):
    """Return a function that logs a new developer in; it returns (address, web client)."""

    def make() -> tuple[str, Web]:
        address = make_user()
        client = Web(app.test_client())
        assert landed(log_in(client, smtp_sink, address)) == "/apps"
        return address, client

    return make


def create_app(client: Web, name: str | None = None) -> tuple[str, str]:
    """Create an app from the UI; return its id and ingest key."""
    answer = client.submit("/apps", {"name": name or f"ui-{uuid.uuid4().hex[:8]}"})
    assert answer.status_code == 200, page(answer)
    html = page(answer)
    app_id = re.search(r"/apps/([0-9a-f-]{36})", html).group(1)
    key = re.search(r"(lvd_[A-Za-z0-9_-]{20,})", html).group(1)
    return app_id, key


def test_an_app_created_in_the_ui_is_owned_and_its_key_works(developer, client):
    _address, owner = developer()
    app_id, key = create_app(owner, "ui-created-app")
    listing = page(owner.get("/apps"))
    assert "ui-created-app" in listing and "owner" in listing
    sent = client.post(f"/api/logs/{app_id}", json={"eventName": "x"}, headers={"X-API-Key": key})
    assert sent.status_code == 202


def test_an_app_is_visible_only_to_its_members(developer):
    _owner_address, owner = developer()
    _stranger_address, stranger = developer()
    app_id, _key = create_app(owner, f"private-{uuid.uuid4().hex[:6]}")
    assert owner.get(f"/apps/{app_id}").status_code == 200
    assert stranger.get(f"/apps/{app_id}").status_code == 404
    assert app_id not in page(stranger.get("/apps"))
    invited = stranger.client.post(f"/apps/{app_id}/members", data={"email": "x@example.com"})
    assert invited.status_code in (400, 404)  # no CSRF token, and not a member anyway
    form_post = stranger.submit(f"/apps/{app_id}/members", {"email": "x@example.com"}, page="/apps")
    assert form_post.status_code == 404


def test_owner_invites_a_registered_developer_who_gets_a_mail_and_access(developer, smtp_sink):
    _owner_address, owner = developer()
    member_address, member = developer()
    app_id, _key = create_app(owner)
    answer = owner.submit(
        f"/apps/{app_id}/members", {"email": member_address.upper()}, page=f"/apps/{app_id}"
    )
    assert "they are a member of" in page(answer)
    mail = smtp_sink.wait_for(member_address, "added you to")
    assert link_in(mail) == f"/apps/{app_id}"
    assert member.get(f"/apps/{app_id}").status_code == 200

    # A member sees the app but cannot invite or remove others.
    other_address, _other = developer()
    refused = member.submit(
        f"/apps/{app_id}/members", {"email": other_address}, page=f"/apps/{app_id}"
    )
    assert refused.status_code == 403


def test_inviting_an_unregistered_address_answers_the_same_and_adds_no_one(app, developer):
    from app.extensions import db
    from app.models import Membership

    _owner_address, owner = developer()
    app_id, _key = create_app(owner)
    ghost, registered = unique_email("ghost"), developer()[0]
    answers = [
        page(owner.submit(f"/apps/{app_id}/members", {"email": e}, page=f"/apps/{app_id}"))
        for e in (ghost, registered)
    ]
    flashes = [re.search(r"If \S+ has an account here.*?invite them again\.", a) for a in answers]
    assert flashes[0].group(0).replace(ghost, "X") == flashes[1].group(0).replace(registered, "X")
    with app.app_context():
        roles = db.session.scalars(
            select(Membership.role).where(Membership.app_id == uuid.UUID(app_id))
        ).all()
    assert sorted(roles) == ["member", "owner"]  # the registered one; none for the unknown


def test_app_names_are_unique_per_owner_so_creating_one_reveals_no_other_teams_name(developer):
    _first_address, first = developer()
    _second_address, second = developer()
    name = f"shared-name-{uuid.uuid4().hex[:6]}"
    first_id, _key = create_app(first, name)
    second_id, _key = create_app(second, name)
    assert first_id != second_id
    again = page(first.submit("/apps", {"name": name}))
    assert "you already have an app named" in again.lower()


def test_owner_removes_a_member_but_never_the_last_owner(app, developer):
    from app.extensions import db
    from app.models import User

    owner_address, owner = developer()
    member_address, member = developer()
    app_id, _key = create_app(owner)
    owner.submit(f"/apps/{app_id}/members", {"email": member_address}, page=f"/apps/{app_id}")
    with app.app_context():
        ids = {
            u.email: u.id
            for u in db.session.query(User).filter(User.email.in_([owner_address, member_address]))
        }

    removed = owner.submit(
        f"/apps/{app_id}/members/{ids[member_address]}/remove", page=f"/apps/{app_id}"
    )
    assert "The member was removed" in page(removed)
    assert member.get(f"/apps/{app_id}").status_code == 404

    kept = owner.submit(
        f"/apps/{app_id}/members/{ids[owner_address]}/remove", page=f"/apps/{app_id}"
    )
    assert "the last owner cannot be removed" in page(kept)
    assert owner.get(f"/apps/{app_id}").status_code == 200


def test_pages_need_a_login(app):
    client = Web(app.test_client())
    answer = client.get(f"/apps/{uuid.uuid4()}", follow_redirects=True)
    assert landed(answer) == "/auth/login"
    assert "Please log in" in page(answer)
