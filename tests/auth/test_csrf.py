"""Every form refuses a POST without its CSRF token; the ingestion API is exempt."""

from __future__ import annotations

import uuid

import pytest

from tests.accounts import PASSWORD, Web, page

UNKNOWN_APP = str(uuid.uuid4())
FORMS = [
    ("/auth/register", {"email": "csrf@example.com", "password": PASSWORD}),
    ("/auth/login", {"email": "csrf@example.com", "password": PASSWORD}),
    ("/auth/otp", {"code": "123456"}),
    ("/auth/otp/resend", {}),
    ("/auth/reset", {"email": "csrf@example.com"}),
    ("/auth/reset/new", {"password": PASSWORD}),
    ("/auth/logout", {}),
    ("/apps", {"name": "csrf-app"}),
    (f"/apps/{UNKNOWN_APP}/members", {"email": "csrf@example.com"}),
    (f"/apps/{UNKNOWN_APP}/members/1/remove", {}),
]
# Ids every xdist worker computes alike: the path, with the random app id named.
FORM_IDS = [url.replace(UNKNOWN_APP, "<app_id>") for url, _ in FORMS]


@pytest.mark.parametrize(("url", "data"), FORMS, ids=FORM_IDS)
def test_a_form_post_without_csrf_token_is_refused(app, url, data):
    client = Web(app.test_client()).client
    answer = client.post(url, data=data)
    assert answer.status_code == 400
    assert "This form has expired or did not come from this site" in page(answer)


def test_a_wrong_csrf_token_is_refused(app):
    client = Web(app.test_client()).client
    client.get("/auth/login")
    answer = client.post(
        "/auth/login",
        data={"email": "csrf@example.com", "password": PASSWORD, "csrf_token": "forged"},
    )
    assert answer.status_code == 400


def test_the_ingestion_api_needs_no_csrf_token(client, make_tracked_app):
    tracked = make_tracked_app()
    answer = client.post(
        f"/api/logs/{tracked['id']}",
        json={"eventName": "user_login", "userId": 1},
        headers={"X-API-Key": tracked["key"]},
    )
    assert answer.status_code == 202, answer.get_json()
    assert "Set-Cookie" not in answer.headers  # the API never starts a session
