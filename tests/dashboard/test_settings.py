"""Ingest keys from the settings page: add, rotate with an overlap window, revoke; shown once."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.accounts import page

KEY = re.compile(r"(lvd_[A-Za-z0-9_-]{20,})")


def ingest(client, app_id: str, key: str) -> int:
    answer = client.post(f"/api/logs/{app_id}", json={"eventName": "x"}, headers={"X-API-Key": key})
    return answer.status_code


def settings_url(team) -> str:
    return f"/apps/{team['app_id']}/settings"


def test_rotation_keeps_the_old_key_working_until_its_overlap_ends(app, client, team, monkeypatch):
    import time

    from app.ingest import registry

    owner, app_id, old_key = team["owner"], team["app_id"], team["key"]
    shown = owner.submit(
        f"/apps/{app_id}/keys/rotate", {"overlap_hours": "24"}, page=settings_url(team)
    )
    html = page(shown)
    new_key = KEY.search(html).group(1)
    assert new_key != old_key and "keep working for 24 hour(s)" in html
    assert ingest(client, app_id, old_key) == 202
    assert ingest(client, app_id, new_key) == 202

    listing = page(owner.get(settings_url(team)))
    assert new_key not in listing and new_key[:8] in listing  # shown once, then only its prefix
    assert "(rotated)" in listing

    # 24 hours later, with nothing changed in the catalog, the old key stops on its own.
    monkeypatch.setattr(registry, "wall_clock", lambda: time.time() + 24 * 3600 + 1)
    assert ingest(client, app_id, old_key) == 401
    assert ingest(client, app_id, new_key) == 202


def test_rotation_without_overlap_stops_the_old_key_at_once(client, team):
    owner, app_id = team["owner"], team["app_id"]
    shown = owner.submit(
        f"/apps/{app_id}/keys/rotate", {"overlap_hours": "0"}, page=settings_url(team)
    )
    new_key = KEY.search(page(shown)).group(1)
    assert ingest(client, app_id, team["key"]) == 401
    assert ingest(client, app_id, new_key) == 202


def test_an_added_key_works_beside_the_old_one_and_revoking_stops_only_it(app, client, team):
    from app.models import App
    from app.store import catalog

    owner, app_id = team["owner"], team["app_id"]
    added = KEY.search(page(owner.submit(f"/apps/{app_id}/keys", page=settings_url(team)))).group(1)
    assert ingest(client, app_id, added) == 202 and ingest(client, app_id, team["key"]) == 202
    with app.app_context():
        key_id = next(
            k.id for k in catalog.keys_of(App.lookup(app_id)) if added.startswith(k.prefix)
        )
    revoked = owner.submit(f"/apps/{app_id}/keys/{key_id}/revoke", page=settings_url(team))
    assert "no longer works" in page(revoked)
    assert ingest(client, app_id, added) == 401
    assert ingest(client, app_id, team["key"]) == 202


def test_members_who_are_not_owners_and_strangers_cannot_touch_keys(app, team, sign_in, make_user):
    from app.auth.accounts import find_user
    from app.store import memberships

    member_email = make_user()
    with app.app_context():
        memberships.add(team_uuid(team), find_user(member_email), role="member")
    member = sign_in(member_email)
    app_id = team["app_id"]
    assert member.get(settings_url(team)).status_code == 200
    refused = member.submit(f"/apps/{app_id}/keys", page=settings_url(team))
    assert refused.status_code == 403
    stranger = team["stranger"]
    assert stranger.submit(f"/apps/{app_id}/keys", page="/apps").status_code == 404


def test_overlaps_outside_the_offered_range_are_refused(app, team):
    from app.models import App
    from app.store import catalog

    with app.app_context():
        target = App.lookup(team["app_id"])
        for overlap in (timedelta(days=8), timedelta(hours=-1)):
            try:
                catalog.rotate_key(target, overlap=overlap)
            except catalog.CatalogError as exc:
                assert "between 0 and 7 days" in str(exc)
            else:
                raise AssertionError(f"{overlap} was accepted")


def team_uuid(team):
    import uuid

    return uuid.UUID(team["app_id"])
