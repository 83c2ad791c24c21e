"""Password policy and Argon2id hashing (argon2-cffi), with rehash when parameters change."""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 10
MAX_LENGTH = 128
# OWASP Password Storage Cheat Sheet: Argon2id with at least 19 MiB and 2 iterations.
OWASP_MIN_MEMORY_KIB = 19 * 1024
OWASP_MIN_TIME_COST = 2


class PasswordRefused(ValueError):
    """A new password that the policy refuses, with the reason for the user."""


def check_policy(password: str) -> None:
    """Raise PasswordRefused unless the password is between MIN_LENGTH and MAX_LENGTH."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"Use at least {MIN_LENGTH} characters for your password.")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"Use at most {MAX_LENGTH} characters for your password.")
    if not password.strip():
        raise PasswordRefused("A password cannot consist of spaces only.")


def hasher() -> PasswordHasher:
    """Return the Argon2id hasher for the configured cost, refusing costs below OWASP's."""
    config = current_app.config
    key = (config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"], config["ARGON2_PARALLELISM"])
    cached = current_app.extensions.get("password_hasher")
    if cached is None or cached[0] != key:
        time_cost, memory_cost, parallelism = key
        if memory_cost < OWASP_MIN_MEMORY_KIB or time_cost < OWASP_MIN_TIME_COST:
            raise ValueError(
                f"ARGON2_MEMORY_COST must be >= {OWASP_MIN_MEMORY_KIB} KiB and "
                f"ARGON2_TIME_COST >= {OWASP_MIN_TIME_COST} (OWASP minimums)"
            )
        cached = (key, PasswordHasher(time_cost, memory_cost, parallelism))
        current_app.extensions["password_hasher"] = cached
    return cached[1]


def hash_password(password: str) -> str:
    """Return the Argon2id hash of a password."""
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> tuple[bool, bool]:
    """Return (matches, needs_rehash); an account without a password matches nothing."""
    ph = hasher()
    if password_hash is None:
        burn_time(password)
        return False, False
    try:
        ph.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, ph.check_needs_rehash(password_hash)


def burn_time(password: str) -> None:
    """Spend as long as a real verification, so unknown emails answer as slowly as known ones."""
    ph = hasher()
    dummy = current_app.extensions.get("password_dummy_hash")
    if dummy is None or ph.check_needs_rehash(dummy):
        dummy = ph.hash("not-a-real-password")
        current_app.extensions["password_dummy_hash"] = dummy
    with contextlib.suppress(VerificationError):
        ph.verify(dummy, password)
