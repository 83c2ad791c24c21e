"""Ingest keys: random, shown once, stored and compared as SHA-256 digests."""

import hashlib
import hmac
import secrets

KEY_PREFIX = "lvd_"


def new_ingest_key() -> str:
    """Return a fresh high-entropy ingest key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """Digest a key; a fast hash suffices because keys carry 256 random bits."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, digests: frozenset[str]) -> bool:
    """Compare in constant time against every active digest of an app."""
    candidate = hash_key(key)
    return any(hmac.compare_digest(candidate, digest) for digest in digests)
