"""Registration accepts intranet domains (.local, .internal, .test): only syntax is checked."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.accounts import PASSWORD, landed, page


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("dev@team.local", True),
        ("dev@build.corp.internal", True),
        ("qa@staging.test", True),
        ("someone@example.com", True),
        ("dev@local", False),  # a bare suffix is no domain
        ("dev@@team.local", False),
        ("two words@team.local", False),
        ("dev@team..local", False),
        ("dev@.internal", False),
        ("no-at-sign.local", False),
    ],
)
def test_address_syntax(address, valid):
    from app.auth.addresses import InvalidAddress, check_address

    if valid:
        check_address(address)
    else:
        with pytest.raises(InvalidAddress):
            check_address(address)


@pytest.mark.parametrize("suffix", ["local", "internal", "test"])
def test_registration_on_an_intranet_domain_creates_the_account(app, web, smtp_sink, suffix):
    from app.extensions import db
    from app.models import User

    address = f"dev-{uuid.uuid4().hex[:8]}@git.{suffix}"
    answer = web.submit("/auth/register", {"email": address, "password": PASSWORD})
    assert landed(answer) == "/auth/login", page(answer)
    assert "Check your inbox" in page(answer)
    assert smtp_sink.wait_for(address, "confirm") is not None
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.email == address)) is not None
