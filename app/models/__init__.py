"""Database models, one module per concern."""

from app.models.alerts import (
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
from app.models.workers import WorkerHeartbeat

__all__ = [
    "AccountToken",
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
    "ReadToken",
    "RegistryState",
    "User",
    "WorkerHeartbeat",
]
