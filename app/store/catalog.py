"""Create apps, rotate keys and save schemas; each change bumps the registry generation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from limits import parse
from sqlalchemy import func, select

from app.extensions import db
from app.models import App, EventSchema, IngestKey, Membership, RegistryState
from app.models.types import utcnow
from app.store.keys import hash_key, new_ingest_key
from app.validation import InvalidSchema, check_schema

MAX_KEY_OVERLAP = timedelta(days=7)


class CatalogError(ValueError):
    """A request the catalog refuses, with a message meant for the user."""


def create_app(
    name: str, rate_limit: str | None = None, owner_id: int | None = None
) -> tuple[App, str]:
    """Create an app (owned by `owner_id`, if given) and return it with its first ingest key."""
    name = name.strip()
    if not name or len(name) > 120:
        raise CatalogError("an app name must have 1 to 120 characters")
    if db.session.scalar(_same_name(name, owner_id)):
        if owner_id is None:
            raise CatalogError(f"an app named {name!r} already exists")
        raise CatalogError(f"you already have an app named {name!r}")
    _check_rate_limit(rate_limit)
    app = App(id=uuid.uuid4(), name=name, rate_limit=rate_limit)
    db.session.add(app)
    if owner_id is not None:
        db.session.add(Membership(user_id=owner_id, app_id=app.id, role="owner"))
    key = _add_key(app)
    RegistryState.bump()
    db.session.commit()
    return app, key


def _same_name(name: str, owner_id: int | None):
    """An app of the same owner with this name: names are unique per owner only, so that
    creating an app tells nobody which names other teams use. Apps created without an
    owner (the operator's CLI, which finds apps by name) stay unique among all."""
    query = select(App.id).where(App.name == name)
    if owner_id is None:
        return query.limit(1)
    owned = select(Membership.app_id).where(
        Membership.user_id == owner_id, Membership.role == "owner"
    )
    return query.where(App.id.in_(owned)).limit(1)


def rotate_key(app: App, overlap: timedelta = timedelta(0)) -> str:
    """Return a new key; the app's other keys keep working for `overlap`, then stop."""
    if overlap < timedelta(0) or overlap > MAX_KEY_OVERLAP:
        raise CatalogError("the overlap must be between 0 and 7 days")
    ends = utcnow() + overlap
    for key in app.keys:
        if key.revoked_at is None or _aware(key.revoked_at) > ends:
            key.revoked_at = ends
    key = _add_key(app)
    RegistryState.bump()
    db.session.commit()
    return key


def add_key(app: App) -> str:
    """Return a new, additional ingest key for the app (the others keep working)."""
    key = _add_key(app)
    RegistryState.bump()
    db.session.commit()
    return key


def revoke_key(app: App, key_id: int) -> IngestKey:
    """Stop one of the app's keys now; raise CatalogError for another app's key."""
    key = db.session.get(IngestKey, key_id)
    if key is None or key.app_id != app.id:
        raise CatalogError("this app has no such key")
    now = utcnow()
    if key.revoked_at is None or _aware(key.revoked_at) > now:
        key.revoked_at = now
        RegistryState.bump()
        db.session.commit()
    return key


def keys_of(app: App) -> list[IngestKey]:
    """Return the app's keys that still work (or will, until their overlap ends), newest first."""
    now = utcnow()
    working = [k for k in app.keys if k.revoked_at is None or _aware(k.revoked_at) > now]
    return sorted(working, key=lambda k: k.created_at, reverse=True)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def set_rate_limit(app: App, rate_limit: str | None) -> None:
    """Override the ingest rate limit of one app (None: use INGEST_RATE_LIMIT)."""
    _check_rate_limit(rate_limit)
    app.rate_limit = rate_limit
    RegistryState.bump()
    db.session.commit()


def set_schema(app: App, event_name: str, schema: object) -> tuple[EventSchema, bool]:
    """Save a schema as the event's next version; return it and whether it is new."""
    if not event_name or len(event_name) > 200:
        raise CatalogError("an event name must have 1 to 200 characters")
    try:
        check_schema(schema)
    except InvalidSchema as exc:
        raise CatalogError(f"invalid JSON Schema: {exc}") from None
    latest = latest_schema(app.id, event_name)
    if latest is not None and latest.schema == schema:
        return latest, False
    saved = EventSchema(
        app_id=app.id,
        event_name=event_name,
        version=(latest.version + 1) if latest else 1,
        schema=schema,
    )
    db.session.add(saved)
    RegistryState.bump()
    db.session.commit()
    return saved, True


def latest_schema(app_id: uuid.UUID, event_name: str) -> EventSchema | None:
    return db.session.scalar(
        select(EventSchema)
        .where(EventSchema.app_id == app_id, EventSchema.event_name == event_name)
        .order_by(EventSchema.version.desc())
        .limit(1)
    )


def latest_schemas(app_id: uuid.UUID | None = None) -> list[EventSchema]:
    """Return the newest version of every event schema (of one app, or of all apps)."""
    newest = (
        select(
            EventSchema.app_id,
            EventSchema.event_name,
            func.max(EventSchema.version).label("version"),
        )
        .group_by(EventSchema.app_id, EventSchema.event_name)
        .subquery()
    )
    query = select(EventSchema).join(
        newest,
        (EventSchema.app_id == newest.c.app_id)
        & (EventSchema.event_name == newest.c.event_name)
        & (EventSchema.version == newest.c.version),
    )
    if app_id is not None:
        query = query.where(EventSchema.app_id == app_id)
    return list(db.session.scalars(query.order_by(EventSchema.event_name)))


def _add_key(app: App) -> str:
    key = new_ingest_key()
    app.keys.append(IngestKey(key_hash=hash_key(key), prefix=key[:8]))
    return key


def _check_rate_limit(rate_limit: str | None) -> None:
    if rate_limit is None:
        return
    try:
        parse(rate_limit)
    except ValueError:
        raise CatalogError(
            f"invalid rate limit {rate_limit!r}; use e.g. '100/second' or '5000/minute'"
        ) from None
