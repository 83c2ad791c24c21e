"""Cookie sessions for the pages, none for the ingestion API.

The API authenticates every request with an ingest key and never reads a session, yet
Flask would still build a signing serializer to open one and mark the answer
`Vary: Cookie`. Paths under the API's prefix get Flask's null session instead.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class PagesOnlySessionInterface(SecureCookieSessionInterface):
    def __init__(self, api_prefix: str) -> None:
        self.api_prefix = api_prefix.rstrip("/") + "/"

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Open the cookie session, except for API requests (None: a null session)."""
        if request.path.startswith(self.api_prefix):
            return None
        return super().open_session(app, request)
