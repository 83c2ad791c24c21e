"""Versioned JSON Schemas, one series per app and event name: the tracking plan."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JSONDocument, utcnow


class EventSchema(db.Model):
    __tablename__ = "event_schemas"
    __table_args__ = (UniqueConstraint("app_id", "event_name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), index=True
    )
    event_name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    schema: Mapped[dict] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
