"""Apps, their hashed ingest keys and read tokens, and the generation counter that tells
caches to reload."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Uuid, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import utcnow


class App(db.Model):
    __tablename__ = "apps"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Unique per owner, not across the installation (migration 0009).
    name: Mapped[str] = mapped_column(String(120), index=True)
    rate_limit: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    keys: Mapped[list[IngestKey]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="IngestKey.created_at"
    )

    @classmethod
    def lookup(cls, id_or_name: str) -> App | None:
        """Find an app by its id or, failing that, its name when only one app has it."""
        try:
            found = db.session.get(cls, uuid.UUID(id_or_name))
        except ValueError:
            found = None
        if found is not None:
            return found
        named = db.session.scalars(select(cls).where(cls.name == id_or_name).limit(2)).all()
        return named[0] if len(named) == 1 else None


class IngestKey(db.Model):
    """An ingest key, stored as its SHA-256: the key itself is shown once, at creation."""

    __tablename__ = "ingest_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    app: Mapped[App] = relationship(back_populates="keys")


class ReadToken(db.Model):
    """A token that reads an app's events (the test API), stored as its SHA-256.

    Separate from ingest keys, which only write: a key baked into a mobile app must not
    read what other users sent.
    """

    __tablename__ = "read_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RegistryState(db.Model):
    """One row whose generation grows on every app, key or schema change."""

    __tablename__ = "registry_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)

    @staticmethod
    def bump() -> None:
        """Tell every process's registry cache to reload (call inside the change's transaction)."""
        db.session.execute(
            update(RegistryState)
            .where(RegistryState.id == 1)
            .values(generation=RegistryState.generation + 1)
        )

    @staticmethod
    def current() -> int:
        return db.session.scalar(select(RegistryState.generation).where(RegistryState.id == 1))
