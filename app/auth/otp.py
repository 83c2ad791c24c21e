"""Emailed one-time login codes: 6 digits from `secrets`, kept only as an HMAC.

A code expires after 10 minutes, works once, and is void after 5 wrong tries. Issuing a
new code voids the previous one.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.auth import clock
from app.extensions import db
from app.models import OneTimeCode

CODE_DIGITS = 6
LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    VOID = "void"  # expired, used, replaced, or too many wrong tries


def _digest(user_id: int, code_id: int, code: str) -> str:
    # Keyed, and bound to the row: a leaked table alone does not let anyone test codes.
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{user_id}:{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


def issue(user_id: int) -> str:
    """Void the user's earlier codes and return a fresh one (stored only as its HMAC)."""
    now = clock.now()
    void_all(user_id, now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = OneTimeCode(
        user_id=user_id, code_hash="", created_at=now, expires_at=now + LIFETIME, attempts=0
    )
    db.session.add(row)
    db.session.flush()
    row.code_hash = _digest(user_id, row.id, code)
    db.session.commit()
    return code


def verify(user_id: int, code: str) -> Outcome:
    """Check a code against the user's live one, counting the try before comparing."""
    now = clock.now()
    row = db.session.scalar(
        select(OneTimeCode)
        .where(
            OneTimeCode.user_id == user_id,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
        )
        .order_by(OneTimeCode.id.desc())
        .limit(1)
    )
    if row is None or clock.as_utc(row.expires_at) <= now:
        return Outcome.VOID
    # Take one try atomically first, so parallel guesses cannot exceed MAX_ATTEMPTS.
    taken = db.session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.id == row.id,
            OneTimeCode.attempts < MAX_ATTEMPTS,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
        )
        .values(attempts=OneTimeCode.attempts + 1)
    )
    db.session.commit()
    if taken.rowcount != 1:
        return Outcome.VOID
    candidate = code.strip()
    well_formed = len(candidate) == CODE_DIGITS and candidate.isdigit()
    expected = row.code_hash
    if well_formed and hmac.compare_digest(_digest(user_id, row.id, candidate), expected):
        used = db.session.execute(
            update(OneTimeCode)
            .where(OneTimeCode.id == row.id, OneTimeCode.used_at.is_(None))
            .values(used_at=now)
        )
        db.session.commit()
        return Outcome.ACCEPTED if used.rowcount == 1 else Outcome.VOID
    db.session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == row.id, OneTimeCode.attempts >= MAX_ATTEMPTS)
        .values(voided_at=now)
    )
    db.session.commit()
    db.session.refresh(row)
    return Outcome.VOID if row.voided_at is not None else Outcome.WRONG


def void_all(user_id: int, now=None) -> None:
    """Void every live code of a user (a new code, a password reset)."""
    db.session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.user_id == user_id,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
        )
        .values(voided_at=now or clock.now())
    )
