"""Hourly and daily rollups of stored events, and the error groups they contain.

Written by `app.store.rollups.compute`; read by the dashboard for ranges beyond 24 hours so that
long ranges never scan raw events.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class HourlyRollup(db.Model):
    """Stored events per app, UTC hour, event name and status."""

    __tablename__ = "rollup_hourly"

    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    event_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class DailyRollup(db.Model):
    """Stored events per app, UTC day, event name and status (the sum of its hours)."""

    __tablename__ = "rollup_daily"

    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    event_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ErrorGroupHour(db.Model):
    """Invalid events of one error group in one UTC hour.

    A group is (event name, schema version, JSON path, keyword); schema version 0 stands
    for "none". `count` counts events, not errors: an event with the same error twice
    counts once.
    """

    __tablename__ = "error_group_hourly"

    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    event_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    schema_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    keyword: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    example_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class ErrorGroup(db.Model):
    """An error group over all rolled-up hours; `alerted_at` makes its alert happen once."""

    __tablename__ = "error_groups"
    __table_args__ = (
        UniqueConstraint(
            "app_id", "event_name", "schema_version", "path", "keyword", name="uq_error_groups_key"
        ),
        Index("ix_error_groups_app_first_seen", "app_id", "first_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("apps.id", ondelete="CASCADE"))
    event_name: Mapped[str] = mapped_column(String(200))
    schema_version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    keyword: Mapped[str] = mapped_column(String(100))
    count: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    example_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
