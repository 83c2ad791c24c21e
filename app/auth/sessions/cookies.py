"""Cookie sessions for the pages, none for the ingestion APIs.

The ingestion APIs (/api, Segment's /v1) authenticate every request with an ingest key
and never read a session, yet Flask would still build a signing serializer to open one
and mark the answer `Vary: Cookie`. Paths under their prefixes get Flask's null session
instead, except the dashboard's JSON (`/api/apps/…`), read by logged-in pages with their
cookie.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class PagesOnlySessionInterface(SecureCookieSessionInterface):
    def __init__(
        self, api_prefixes: tuple[str, ...], session_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.api_prefixes = tuple(prefix.rstrip("/") + "/" for prefix in api_prefixes)
        self.session_prefixes = tuple(prefix.rstrip("/") + "/" for prefix in session_prefixes)
        self._serializers: dict[tuple, URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """One serializer per set of keys: Flask builds one (and test-serializes a value with
        it) twice per request, a tenth of an idle live poll's time."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys not in self._serializers:
            self._serializers[keys] = super().get_signing_serializer(app)
        return self._serializers[keys]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Open the cookie session, except for ingestion requests (None: a null session)."""
        path = request.path
        if path.startswith(self.api_prefixes) and not path.startswith(self.session_prefixes):
            return None
        return super().open_session(app, request)
