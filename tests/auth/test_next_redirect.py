"""After login, `next` leads only to a local path: every off-site form lands on /apps."""

from __future__ import annotations

import pytest

from tests.accounts import code_in, landed, page

OFF_SITE = [
    "/%09/evil.example/phish",  # tab: browsers drop it, leaving //evil.example
    "/%0a/evil.example/phish",
    "/%0d/evil.example/phish",
    "/%0d%0a/evil.example/phish",
    "//evil.example/phish",
    "/%5Cevil.example/phish",  # backslash: browsers read it as a slash
    "/%5C/evil.example/phish",
    "%2F%2Fevil.example/phish",
    "/%252F/evil.example/phish",  # encoded twice
    "/%255C/evil.example/phish",
    "/%25%30%39/evil.example/phish",  # a tab hidden under two encodings
    "%20//evil.example/phish",
    "%09//evil.example/phish",
    "https://evil.example/phish",
    "javascript:alert(1)",
    "/%00/evil.example",
    "/%7F/evil.example",
]


def _log_in_with_next(web, sink, address: str, raw_next: str):
    """Pass both steps from /auth/login?next=<raw_next>; return the final 302, unfollowed."""
    login_url = f"/auth/login?next={raw_next}"
    first = web.submit(login_url, {"email": address, "password": "correct horse battery"})
    assert landed(first) == "/auth/otp", page(first)
    code = code_in(sink.wait_for(address, "login code"))
    return web.submit("/auth/otp", {"code": code}, follow_redirects=False)


@pytest.mark.parametrize("raw_next", OFF_SITE)
def test_an_off_site_next_lands_on_the_apps_page(web, smtp_sink, make_user, raw_next):
    address = make_user()
    answer = _log_in_with_next(web, smtp_sink, address, raw_next)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/apps"


@pytest.mark.parametrize(
    ("raw_next", "location"),
    [
        ("/settings", "/settings"),
        ("%2Fapps%3Fpage%3D2", "/apps?page=2"),
        ("/apps?q=100%25", "/apps?q=100%"),
    ],
)
def test_a_local_next_is_kept(web, smtp_sink, make_user, raw_next, location):
    address = make_user()
    answer = _log_in_with_next(web, smtp_sink, address, raw_next)
    assert answer.headers["Location"] == location
