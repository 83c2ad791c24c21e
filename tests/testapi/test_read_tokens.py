"""Read tokens are made and revoked by `flask apps create-read-token` and on the settings
page (owners), shown once and stored hashed."""

from __future__ import annotations

import json


def test_cli_create_read_token_json_prints_a_token_that_reads(app, client, make_tracked_app):
    from app.extensions import db
    from app.models import ReadToken

    made = make_tracked_app()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["apps", "create-read-token", made["id"], "--json"])
    assert result.exit_code == 0, result.output
    [line] = result.stdout.strip().splitlines()
    printed = json.loads(line)
    assert printed["id"] == made["id"] and printed["read_token"].startswith("lvdr_")
    with app.app_context():
        row = db.session.get(ReadToken, printed["token_id"])
        assert printed["read_token"] not in (row.token_hash, row.prefix)  # stored hashed
    bearer = {"Authorization": f"Bearer {printed['read_token']}"}
    answer = client.get(f"/api/apps/{made['id']}/events/none", headers=bearer)
    assert answer.status_code == 404 and answer.get_json()["stored"] is False
    revoked = runner.invoke(
        args=["apps", "revoke-read-token", made["id"], str(printed["token_id"]), "--json"]
    )
    assert json.loads(revoked.stdout)["revoked"] is True
    assert client.get(f"/api/apps/{made['id']}/events/none", headers=bearer).status_code == 401
    unknown = runner.invoke(args=["apps", "create-read-token", "no-such-app", "--json"])
    assert unknown.exit_code == 1 and "no app" in json.loads(unknown.stdout)["error"]


def test_owners_create_and_revoke_read_tokens_on_the_settings_page(app, team, make_user, sign_in):
    from app.auth.accounts import find_user
    from app.store import memberships

    app_id, owner = team["app_id"], team["owner"]
    settings = f"/apps/{app_id}/settings"
    token = owner.csrf(settings)
    shown = owner.client.post(f"/apps/{app_id}/read-tokens", data={"csrf_token": token})
    assert shown.status_code == 200
    page = shown.get_data(True)
    secret = page.split('<code class="secret">')[1].split("</code>")[0]
    assert secret.startswith("lvdr_")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get(f"/api/apps/{app_id}/events/x", headers=bearer).status_code == 404
    listed = owner.get(settings).get_data(True)
    assert secret[:10] in listed and secret not in listed  # the prefix only
    # A plain member sees the tokens but cannot make or revoke one.
    member_email = make_user()
    with app.app_context():
        memberships.add(app_id, find_user(member_email), "member")
    member = sign_in(member_email)
    member_token = member.csrf(settings)
    refused = member.client.post(f"/apps/{app_id}/read-tokens", data={"csrf_token": member_token})
    assert refused.status_code == 403
    from app.models import ReadToken
    from app.store.keys import hash_key

    with app.app_context():
        token_id = ReadToken.query.filter_by(token_hash=hash_key(secret)).one().id
    revoke = f"/apps/{app_id}/read-tokens/{token_id}/revoke"
    assert member.client.post(revoke, data={"csrf_token": member_token}).status_code == 403
    done = owner.client.post(revoke, data={"csrf_token": token})
    assert done.status_code == 302
    assert app.test_client().get(f"/api/apps/{app_id}/events/x", headers=bearer).status_code == 401
