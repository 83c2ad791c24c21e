"""Find the app from Segment's write key: X-API-Key, HTTP Basic user name, or `writeKey`.

Segment's URLs name no app, only the key; the key is the app's ingest key.
"""

from __future__ import annotations

from flask import current_app, request

from app.ingest.errors import ApiError
from app.ingest.registry import AppEntry, RegistryUnavailable, registry


def header_key() -> str | None:
    """The key sent in a header: X-API-Key as on our routes, or Basic auth's user name
    (Segment's SDKs send "<writeKey>:" with an empty password)."""
    key = request.headers.get("X-API-Key")
    if key:
        return key
    authorization = request.authorization
    if authorization is not None and authorization.type == "basic":
        return authorization.username or None
    return None


def body_key(document: object) -> str | None:
    """The `writeKey` field of a parsed body, when it is a non-empty string."""
    if isinstance(document, dict):
        key = document.get("writeKey")
        if isinstance(key, str) and key:
            return key
    return None


def app_for(key: str | None) -> AppEntry:
    """The app the key belongs to; 401 without a valid key, 503 before the registry loads."""
    if not key:
        raise ApiError(
            401,
            "missing_key",
            "send the app's ingest key as writeKey, as the Basic auth user name, or in X-API-Key",
        )
    try:
        entry = registry.app_for_key(key)
        if entry is None:  # a key made a moment ago: look for news once, now
            registry.recheck()
            entry = registry.app_for_key(key)
    except RegistryUnavailable:
        raise ApiError(
            503,
            "unavailable",
            "the service is starting or its database is unreachable",
            retry_after=current_app.config["RETRY_AFTER_SECONDS"],
        ) from None
    if entry is None:
        raise ApiError(401, "invalid_key", "the write key is not a valid ingest key")
    return entry
