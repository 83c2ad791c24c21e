"""Worker heartbeats and queue consumers, so /health can say which queues have live
consumers and which have had none for a while."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JSONDocument


class WorkerHeartbeat(db.Model):
    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    queues: Mapped[list] = mapped_column(JSONDocument)
    pid: Mapped[int] = mapped_column(Integer)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QueueConsumer(db.Model):
    """The last moment a worker consumed a queue (or, for a queue none has consumed yet,
    when the first worker started watching it)."""

    __tablename__ = "queue_consumers"

    queue: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
