"""Transaction-scoped PostgreSQL advisory locks: one runner per periodic job and app."""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from app.extensions import db


def lock_key(job: str, scope: str = "") -> int:
    """A stable signed 64-bit key for a job and its scope (an app id, a day)."""
    digest = hashlib.blake2b(f"{job}:{scope}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def try_lock_for_transaction(job: str, scope: str = "") -> bool:
    """Take the job's lock until the session's transaction ends; False if someone holds it.

    Two beats or two workers running the same job at once: the second sees False and
    skips, and the next tick recomputes the same result anyway. SQLite (standalone) has a
    single writer and a single beat, so there the answer is always True.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        db.session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(job, scope)}
        )
    )


def lock_for_transaction(job: str, scope: str = "") -> None:
    """Wait for the job's lock and hold it until the session's transaction ends."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(job, scope)}
        )
