"""Database models, one module per concern."""

from app.models.apps import App, IngestKey, RegistryState
from app.models.events import Event, EventCount
from app.models.schemas import EventSchema
from app.models.workers import WorkerHeartbeat

__all__ = [
    "App",
    "Event",
    "EventCount",
    "EventSchema",
    "IngestKey",
    "RegistryState",
    "WorkerHeartbeat",
]
