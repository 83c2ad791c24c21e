"""Argon2id hashes at or above OWASP's minimums, rehashed at login when the cost changes."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from app.auth.passwords import hash_password, hasher, verify_password
from app.extensions import db
from app.models import User
from tests.accounts import PASSWORD, landed, log_in


def test_hashes_are_argon2id_above_owasp_minimums(app):
    with app.app_context():
        digest = hash_password(PASSWORD)
        assert digest.startswith("$argon2id$")
        memory, time_cost = (int(part[2:]) for part in digest.split("$")[3].split(",")[:2])
        assert memory >= 19 * 1024 and time_cost >= 2
        assert verify_password(digest, PASSWORD) == (True, False)
        assert verify_password(digest, PASSWORD + "x") == (False, False)
        assert verify_password(None, PASSWORD) == (False, False)


def test_login_rehashes_a_password_stored_with_older_parameters(app, web, smtp_sink, make_user):
    address = make_user()
    weaker = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash(PASSWORD)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == address))
        user.password_hash = weaker
        db.session.commit()
    assert landed(log_in(web, smtp_sink, address)) == "/apps"
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.email == address))
        assert stored != weaker
        assert not hasher().check_needs_rehash(stored)


@pytest.mark.parametrize(
    ("setting", "value"), [("ARGON2_MEMORY_COST", 8 * 1024), ("ARGON2_TIME_COST", 1)]
)
def test_costs_below_owasp_minimums_are_refused(app, monkeypatch, setting, value):
    monkeypatch.setitem(app.config, setting, value)
    with app.app_context(), pytest.raises(ValueError, match="OWASP"):
        hash_password(PASSWORD)
