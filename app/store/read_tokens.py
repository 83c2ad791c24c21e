"""Read tokens: per-app, read-only, shown once and stored as SHA-256 digests like ingest keys.

A token reads one app's stored events through the test API (`Authorization: Bearer …`).
Ingest keys (`lvd_…`) only write; read tokens (`lvdr_…`) only read.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import App, IngestKey, ReadToken
from app.models.types import utcnow
from app.store.keys import hash_key

TOKEN_PREFIX = "lvdr_"


class UnknownToken(LookupError):
    """No such token for this app."""


@dataclass(frozen=True)
class Bearer:
    """What a bearer token turned out to be: an app's read token, an ingest key, or neither."""

    read_app_id: uuid.UUID | None = None
    is_ingest_key: bool = False


def create_read_token(app: App) -> tuple[ReadToken, str]:
    """Create a read token for the app; return its row and the token (shown only once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ReadToken(app_id=app.id, token_hash=hash_key(token), prefix=token[:10])
    db.session.add(row)
    db.session.commit()
    return row, token


def revoke_read_token(app: App, token_id: int) -> ReadToken:
    """Stop one of the app's read tokens now; raise UnknownToken for another app's."""
    row = db.session.get(ReadToken, token_id)
    if row is None or row.app_id != app.id:
        raise UnknownToken(token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return row


def read_tokens_of(app_id: uuid.UUID) -> list[ReadToken]:
    """The app's working read tokens, newest first."""
    query = (
        select(ReadToken)
        .where(ReadToken.app_id == app_id, ReadToken.revoked_at.is_(None))
        .order_by(ReadToken.created_at.desc(), ReadToken.id.desc())
    )
    return list(db.session.scalars(query))


def identify(token: str) -> Bearer:
    """Tell a working read token (and its app) from an ingest key and from anything else.

    One indexed lookup by digest; the ingest keys are looked at only when it is not a read
    token, to tell the caller why it is refused.
    """
    digest = hash_key(token)
    app_id = db.session.scalar(
        select(ReadToken.app_id).where(
            ReadToken.token_hash == digest, ReadToken.revoked_at.is_(None)
        )
    )
    if app_id is not None:
        return Bearer(read_app_id=app_id)
    ingest = db.session.scalar(select(IngestKey.id).where(IngestKey.key_hash == digest))
    return Bearer(is_ingest_key=ingest is not None)
