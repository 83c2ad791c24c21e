"""Per-app background settings, members' alert and digest choices, webhook deliveries."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import utcnow

DEFAULT_RETENTION_DAYS = 30


class AppBackgroundSettings(db.Model):
    """Retention and webhook of an app; an app without a row has the defaults."""

    __tablename__ = "app_background_settings"

    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    retention_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_RETENTION_DAYS)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # Shown once when set; the server needs it to sign, so it is stored as is.
    webhook_secret: Mapped[str | None] = mapped_column(String(100))


class NotificationChoice(db.Model):
    """Whether a member gets first-seen violation alerts and the daily digest of an app."""

    __tablename__ = "notification_choices"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)


class WebhookDelivery(db.Model):
    """One webhook POST and its attempts: what the settings page lists."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'retrying', 'delivered', 'failed', 'refused')",
            name="ck_webhook_deliveries_status",
        ),
        Index("ix_webhook_deliveries_app_created", "app_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("apps.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    error_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("error_groups.id", ondelete="SET NULL")
    )
    url: Mapped[str] = mapped_column(String(2000))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The retry chain whose messages may attempt it, and until when that chain counts as
    # alive (each attempt moves it past its next retry); see background/alert_outbox.py.
    chain: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DigestSent(db.Model):
    """The day an app's digest was sent for: claimed once, so two runs send one digest."""

    __tablename__ = "digests_sent"

    app_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AlertMail(db.Model):
    """An alert mail recorded with the claim of its groups, queued after the commit."""

    __tablename__ = "alert_mails"
    __table_args__ = (
        Index(
            "ix_alert_mails_unqueued",
            "created_at",
            postgresql_where=text("queued_at IS NULL"),
            sqlite_where=text("queued_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("apps.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    html_body: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
