"""A per-process cache of apps, key digests and compiled validators.

The hot path reads only this cache. At most once per REGISTRY_REFRESH_SECONDS it reads
one integer (the registry generation) and reloads when it changed, so every gunicorn
worker sees a new schema or key within about a second, without a query per request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Flask
from limits import RateLimitItem, parse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import PerApp, db
from app.models import App, IngestKey, RegistryState
from app.store.catalog import latest_schemas
from app.store.keys import hash_key, key_matches
from app.validation import EventValidator, InvalidSchema, PlannedEvent, compile_validator

log = logging.getLogger(__name__)


RECHECK_PER_SECOND = 10


def wall_clock() -> float:
    """Seconds since the epoch: when a rotated key's overlap window ends."""
    return time.time()


class RegistryUnavailable(RuntimeError):
    """Nothing has been loaded yet and the database cannot be reached."""


@dataclass
class AppEntry:
    id: str
    name: str
    key_digests: frozenset[str]
    rate_limit: RateLimitItem | None
    plan: dict[str, PlannedEvent] = field(default_factory=dict)

    def accepts_key(self, key: str) -> bool:
        return key_matches(key, self.key_digests)


class Registry:
    def __init__(self, refresh_seconds: float) -> None:
        self.refresh_seconds = refresh_seconds
        self._apps: dict[str, AppEntry] | None = None
        # Key digest -> app: Segment's wire format names the key, never the app.
        self._apps_by_digest: dict[str, AppEntry] = {}
        self._generation: int | None = None
        self._checked_at = float("-inf")
        # When the next key in its overlap window stops working (time.time()), if any.
        self._next_key_expiry = float("inf")
        self._rechecked_at = float("-inf")
        self._validators: dict[int, EventValidator] = {}
        self._lock = threading.Lock()
        self._recheck_lock = threading.Lock()

    def app(self, app_id: str) -> AppEntry | None:
        """Return the cached app, refreshing the cache first when it is due."""
        return self._current().get(app_id)

    def app_for_key(self, key: str) -> AppEntry | None:
        """Return the cached app this ingest key belongs to, if any.

        The digest is the dictionary key: it is a SHA-256 of a 256-bit random key, so a
        lookup's timing tells nothing useful about any key.
        """
        self._current()
        return self._apps_by_digest.get(hash_key(key))

    def _current(self) -> dict[str, AppEntry]:
        """The cached apps, refreshed first when due."""
        if time.monotonic() - self._checked_at >= self.refresh_seconds:
            self.refresh()
        elif wall_clock() >= self._next_key_expiry:
            self.recheck()  # a rotated key's overlap just ended (rate-limited like a miss)
        elif self._apps is None:
            with self._lock:  # another thread may be loading right now: wait for it
                pass
        if self._apps is None:
            raise RegistryUnavailable("the app registry could not be loaded")
        return self._apps

    def recheck(self) -> None:
        """Check for changes now, after a miss; at most RECHECK_PER_SECOND times a second,
        so requests naming random app ids cannot turn into a query each. A miss during
        another thread's check waits for it: that check may bring the missing app."""
        with self._recheck_lock:
            now = time.monotonic()
            if now - self._rechecked_at >= 1 / RECHECK_PER_SECOND:
                self._rechecked_at = now
                self.refresh(now=True)

    def refresh(self, now: bool = False) -> None:
        """Reload when the generation moved; keep serving the old cache if the DB is down."""
        with self._lock:
            fresh = time.monotonic() - self._checked_at < self.refresh_seconds
            if fresh and self._apps is not None and not now:
                return  # another thread refreshed while this one waited for the lock
            self._checked_at = time.monotonic()
            try:
                generation = RegistryState.current()
                expired = wall_clock() >= self._next_key_expiry
                if generation != self._generation or self._apps is None or expired:
                    self._apps, self._apps_by_digest = self._load()
                    self._generation = generation
            except SQLAlchemyError:
                log.warning("registry refresh failed; serving the cached copy", exc_info=True)
            finally:
                # End the read transaction: on SQLite it would pin this request to its first
                # snapshot, and a recheck later in the request would not see a new app.
                db.session.rollback()

    def _load(self) -> tuple[dict[str, AppEntry], dict[str, AppEntry]]:
        apps = {
            str(app.id): AppEntry(
                id=str(app.id),
                name=app.name,
                key_digests=frozenset(),
                rate_limit=parse(app.rate_limit) if app.rate_limit else None,
            )
            for app in db.session.scalars(select(App))
        }
        # A rotated key keeps working until its overlap window ends (revoked_at ahead).
        now = datetime.fromtimestamp(wall_clock(), UTC)
        active_keys = select(IngestKey.app_id, IngestKey.key_hash, IngestKey.revoked_at).where(
            IngestKey.revoked_at.is_(None) | (IngestKey.revoked_at > now)
        )
        digests: dict[str, set[str]] = {}
        next_expiry = float("inf")
        for app_id, digest, revoked_at in db.session.execute(active_keys):
            digests.setdefault(str(app_id), set()).add(digest)
            if revoked_at is not None:
                ends = revoked_at if revoked_at.tzinfo else revoked_at.replace(tzinfo=UTC)
                next_expiry = min(next_expiry, ends.timestamp())
        self._next_key_expiry = next_expiry
        for app_id, entry in apps.items():
            entry.key_digests = frozenset(digests.get(app_id, ()))
        validators = {}
        for schema in latest_schemas():
            try:
                validator = self._validators.get(schema.id) or compile_validator(schema.schema)
            except InvalidSchema as exc:
                # Saved before patterns had to run in linear time: its events count as
                # unplanned until a new version replaces it, rather than freezing a worker.
                log.error("schema %s of app %s cannot be used: %s", schema.id, schema.app_id, exc)
                continue
            validators[schema.id] = validator
            entry = apps.get(str(schema.app_id))
            if entry is not None:
                entry.plan[schema.event_name] = PlannedEvent(schema.version, validator)
        self._validators = validators
        by_digest = {digest: entry for entry in apps.values() for digest in entry.key_digests}
        return apps, by_digest


def _new_registry(app: Flask) -> Registry:
    return Registry(app.config["REGISTRY_REFRESH_SECONDS"])


registry = PerApp("registry", _new_registry)
