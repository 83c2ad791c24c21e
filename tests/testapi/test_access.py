"""Who reads through the test API: the app's read token or a member's session; never an
ingest key, another app's token, a revoked token or a stranger."""

from __future__ import annotations

import pytest

SEARCH = {"event_name": "user_login"}


@pytest.fixture
def other(app, make_tracked_app):
    """A second app with its own read token."""
    from app.models import App
    from app.store import read_tokens

    made = make_tracked_app()
    with app.app_context():
        _row, token = read_tokens.create_read_token(App.lookup(made["id"]))
    return {**made, "token": token}


def _headers(tracked: dict, other: dict, credential: str) -> dict:
    return {
        "read token": {"Authorization": f"Bearer {tracked['token']}"},
        "read token, lower-case scheme": {"Authorization": f"bearer {tracked['token']}"},
        "ingest key as bearer": {"Authorization": f"Bearer {tracked['key']}"},
        "ingest key in X-API-Key": {"X-API-Key": tracked["key"]},
        "another app's read token": {"Authorization": f"Bearer {other['token']}"},
        "another app's ingest key": {"Authorization": f"Bearer {other['key']}"},
        "made-up token": {"Authorization": "Bearer lvdr_not-a-token"},
        "no credential": {},
        "basic scheme": {"Authorization": f"Basic {tracked['token']}"},
    }[credential]


AUTH_TABLE = [
    ("read token", 200, None),
    ("read token, lower-case scheme", 200, None),
    ("ingest key as bearer", 403, "write_only_key"),
    ("ingest key in X-API-Key", 403, "write_only_key"),
    ("another app's read token", 404, "unknown_app"),
    ("another app's ingest key", 403, "write_only_key"),
    ("made-up token", 401, "invalid_token"),
    ("no credential", 401, "unauthorized"),
    ("basic scheme", 401, "unauthorized"),
]


@pytest.mark.parametrize(("credential", "status", "error"), AUTH_TABLE)
def test_wait_and_search_answer_only_the_apps_read_token(
    client, tracked, other, seed, credential, status, error
):
    [event_id] = seed(tracked["id"], [{}])
    headers = _headers(tracked, other, credential)
    for answer in (
        client.get(f"/api/apps/{tracked['id']}/events/{event_id}", headers=headers),
        client.post(f"/api/apps/{tracked['id']}/events/search", json=SEARCH, headers=headers),
    ):
        assert answer.status_code == status, answer.get_json()
        body = answer.get_json()
        if error:
            assert body["error"] == error and event_id not in answer.get_data(True)
        else:
            found = body["id"] if "id" in body else body["events"][0]["id"]
            assert found == event_id


def test_a_token_of_app_a_cannot_read_app_b_even_by_event_id(client, tracked, other, seed):
    [foreign] = seed(other["id"], [{"client_event_id": "foreign"}])
    mine = {"Authorization": f"Bearer {tracked['token']}"}
    for wanted in (foreign, "foreign"):
        path = f"/api/apps/{other['id']}/events/{wanted}"
        assert client.get(path, headers=mine).status_code == 404
    # Through its own app, another app's event is simply not there.
    for wanted in (foreign, "foreign"):
        answer = client.get(f"/api/apps/{tracked['id']}/events/{wanted}", headers=mine)
        assert answer.status_code == 404 and answer.get_json()["stored"] is False


def test_a_revoked_read_token_stops_at_once(app, client, tracked):
    from app.models import App, ReadToken
    from app.store import read_tokens
    from app.store.keys import hash_key

    with app.app_context():
        row = ReadToken.query.filter_by(token_hash=hash_key(tracked["token"])).one()
        read_tokens.revoke_read_token(App.lookup(tracked["id"]), row.id)
    answer = client.get(f"/api/apps/{tracked['id']}/events/x", headers=tracked["bearer"])
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_token"


def test_the_read_token_cannot_send_events(client, tracked):
    answer = client.post(
        f"/api/logs/{tracked['id']}",
        json={"eventName": "user_login", "userId": 1},
        headers=tracked["bearer"],
    )
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_key"


def test_a_members_session_reads_and_a_strangers_does_not(app, team, seed):
    [event_id] = seed(team["app_id"], [{"client_event_id": "by-session"}])
    owner, stranger = team["owner"], team["stranger"]
    url = f"/api/apps/{team['app_id']}/events/by-session"
    assert owner.get(url).get_json()["id"] == event_id
    assert stranger.get(url).status_code == 404
    search = f"/api/apps/{team['app_id']}/events/search"
    assert owner.client.post(search, json={}).status_code == 400  # a session needs the CSRF token
    token = owner.csrf(f"/apps/{team['app_id']}")
    found = owner.client.post(search, json={}, headers={"X-CSRFToken": token})
    assert [row["id"] for row in found.get_json()["events"]] == [event_id]
    stranger_token = stranger.csrf("/apps")
    refused = stranger.client.post(search, json={}, headers={"X-CSRFToken": stranger_token})
    assert refused.status_code == 404
