"""An oversized body is answered 413 with the JSON error, not a broken pipe.

SDKs retry network errors, so a server that closes the connection before reading an
oversized body would have the client resend it forever. Against real gunicorn
(`gunicorn.conf.py`), a plain `urllib` client posts 2 MB and 8 MB bodies (the limit is
1 MiB; bodies up to 8 x the limit are read and discarded) 20 times each and reads a 413
every time; nothing is stored.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.faults.scenario import row_count
from tests.support.factories import USER_LOGIN_SCHEMA
from tests.support.servers import gunicorn

ATTEMPTS = 20


@pytest.fixture(scope="module")
def gunicorn_url(app):
    """`gunicorn -c gunicorn.conf.py run:app` (1 worker) on the test database and broker."""
    with gunicorn(workers=1) as url:
        yield url


def post(url: str, body: bytes, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.mark.parametrize("size", [2_000_000, 8_000_000])
@pytest.mark.parametrize("path", ["", "/batch"])
def test_oversized_body_answered_413_every_time(app, gunicorn_url, make_tracked_app, size, path):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    padding = "x" * size
    body = json.dumps({"eventName": "user_login", "userId": 1, "padding": padding}).encode()
    if path:
        body = json.dumps({"events": [{"eventName": "user_login", "pad": padding}]}).encode()
    url = f"{gunicorn_url}/api/logs/{tracked['id']}{path}"
    answers = [post(url, body, tracked["key"]) for _ in range(ATTEMPTS)]
    expected = (413, {"error": "too_large", "message": "the request body exceeds 1048576 bytes"})
    assert answers == [expected] * ATTEMPTS
    assert row_count(app, tracked["id"]) == 0
