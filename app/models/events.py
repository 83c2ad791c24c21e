"""Stored events and the per-minute counters that always equal them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JSONDocument, utcnow

STATUSES = ("valid", "invalid", "unplanned")


class Event(db.Model):
    """A stored event. On PostgreSQL partitioned by day of its UUIDv7 id (store/partitions.py)."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'invalid', 'unplanned')", name="ck_events_status"),
        # A client retry carrying the same eventId for the same app is stored once. SQLite
        # only: on PostgreSQL `events` is partitioned by id (migration 0005) and
        # event_client_ids holds the eventIds.
        Index(
            "uq_events_app_client_event_id",
            "app_id",
            "client_event_id",
            unique=True,
            postgresql_where=text("client_event_id IS NOT NULL"),
            sqlite_where=text("client_event_id IS NOT NULL"),
        ),
        Index("ix_events_app_received_at", "app_id", "received_at"),
        # The dashboard's reads: newest first per app, per status, per event name (0003).
        Index("ix_events_app_id_id", "app_id", "id"),
        # Only events that are not valid (0006): valid ones are most, and found at once.
        Index(
            "ix_events_app_status_id",
            "app_id",
            "status",
            "id",
            postgresql_where=text("status <> 'valid'"),
            sqlite_where=text("status <> 'valid'"),
        ),
        Index("ix_events_app_name_id", "app_id", "event_name", "id"),
        # Only events sent in a CI test run enter it (0010): the others pay nothing.
        Index(
            "ix_events_app_test_run_id",
            "app_id",
            "test_run",
            "id",
            postgresql_where=text("test_run IS NOT NULL"),
            sqlite_where=text("test_run IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_event_id: Mapped[str | None] = mapped_column(String(128))
    # No foreign key on PostgreSQL (0006): its check cost every stored event a lookup and a
    # row lock on the app. SQLite (standalone) keeps the one of migration 0001.
    app_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[object] = mapped_column(JSONDocument)
    payload_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))
    errors: Mapped[list] = mapped_column(JSONDocument)
    schema_version: Mapped[int | None] = mapped_column(Integer)
    client_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The CI test run the event was sent in (X-Test-Run); removed after TEST_RUN_HOURS.
    test_run: Mapped[str | None] = mapped_column(String(128))


class EventCount(db.Model):
    """Stored events per app, minute, event name and status, updated in the insert's transaction."""

    __tablename__ = "event_counts"

    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    event_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class EventClientId(db.Model):
    """A client's eventId claimed by a stored event, per app (PostgreSQL, migration 0005).

    Written in the event's transaction; kept for the app's retention (at least a day).
    """

    __tablename__ = "event_client_ids"
    # BRIN: claims are written in time order; retention finds the old ones (0006). No
    # foreign key to apps, as on events.
    __table_args__ = (
        Index("ix_event_client_ids_received_at", "received_at", postgresql_using="brin"),
    )

    app_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
