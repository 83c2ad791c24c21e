"""Database models, one module per concern."""

from app.models.apps import App, IngestKey, RegistryState
from app.models.events import Event, EventCount
from app.models.schemas import EventSchema
from app.models.users import AccountToken, Membership, OneTimeCode, User
from app.models.workers import WorkerHeartbeat

__all__ = [
    "AccountToken",
    "App",
    "Event",
    "EventCount",
    "EventSchema",
    "IngestKey",
    "Membership",
    "OneTimeCode",
    "RegistryState",
    "User",
    "WorkerHeartbeat",
]
