"""Cookie sessions for the pages, none for the ingestion API.

The API authenticates every request with an ingest key and never reads a session, yet
Flask would still build a signing serializer to open one and mark the answer
`Vary: Cookie`. Paths under the API's prefix get Flask's null session instead, except
the dashboard's JSON (`/api/apps/…`), which is read by logged-in pages with their cookie.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class PagesOnlySessionInterface(SecureCookieSessionInterface):
    def __init__(self, api_prefix: str, session_prefixes: tuple[str, ...] = ()) -> None:
        self.api_prefix = api_prefix.rstrip("/") + "/"
        self.session_prefixes = tuple(prefix.rstrip("/") + "/" for prefix in session_prefixes)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Open the cookie session, except for ingestion requests (None: a null session)."""
        path = request.path
        if path.startswith(self.api_prefix) and not path.startswith(self.session_prefixes):
            return None
        return super().open_session(app, request)
