"""Database models, one module per concern."""

from app.models.alerts import (
    AlertMail,
    AppBackgroundSettings,
    DigestSent,
    NotificationChoice,
    WebhookDelivery,
)
from app.models.apps import App, IngestKey, ReadToken, RegistryState
from app.models.events import Event, EventClientId, EventCount
from app.models.jobs import BackgroundJob, EventRevalidation
from app.models.rollups import DailyRollup, ErrorGroup, ErrorGroupHour, HourlyRollup
from app.models.schemas import EventSchema
from app.models.users import AccountToken, Membership, OneTimeCode, User
from app.models.workers import QueueConsumer, WorkerHeartbeat

__all__ = [
    "AccountToken",
    "AlertMail",
    "App",
    "AppBackgroundSettings",
    "BackgroundJob",
    "DailyRollup",
    "DigestSent",
    "ErrorGroup",
    "ErrorGroupHour",
    "HourlyRollup",
    "NotificationChoice",
    "WebhookDelivery",
    "Event",
    "EventClientId",
    "EventCount",
    "EventRevalidation",
    "EventSchema",
    "IngestKey",
    "Membership",
    "OneTimeCode",
    "QueueConsumer",
    "ReadToken",
    "RegistryState",
    "User",
    "WorkerHeartbeat",
]
