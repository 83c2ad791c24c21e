"""What a live page's poll may take as checked: a session or a membership found within
POLL_TRUST_SECONDS, per web process.

An open page polls once a second; checking its session and membership against the
database each time was most of an idle poll's cost. A check that passed is remembered
for POLL_TRUST_SECONDS (0: never), so an ended session's or a removed member's open page
may read that much longer. Refusals are never remembered.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from flask import current_app

MAX_ENTRIES = 10_000  # beyond it, the entries of closed pages are dropped all at once


def trusted(kind: str, key: Hashable) -> bool:
    """True if a check of this kind passed for this key within POLL_TRUST_SECONDS."""
    return _checks(kind).get(key, 0.0) > time.monotonic()


def remember(kind: str, key: Hashable) -> None:
    """Note that a check of this kind passed for this key just now."""
    seconds = current_app.config["POLL_TRUST_SECONDS"]
    if seconds <= 0:
        return
    checks = _checks(kind)
    if len(checks) > MAX_ENTRIES:
        checks.clear()
    checks[key] = time.monotonic() + seconds


def _checks(kind: str) -> dict[Hashable, float]:
    return current_app.extensions.setdefault(f"poll_trust_{kind}", {})
