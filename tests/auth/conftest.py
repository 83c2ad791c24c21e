"""Fixtures of the account tests."""

from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.fixture
def move_clock(monkeypatch):
    """Return move(**timedelta_args): from then on, accounts see the clock moved that far."""
    from app.auth import clock

    real_now = clock.now

    def move(**delta) -> None:
        monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(**delta))

    return move
