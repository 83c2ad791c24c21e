"""A Content-Security-Policy for every HTML page: scripts and styles only from this site.

Payloads are untrusted. Besides escaping everything, the policy refuses inline scripts
and event-handler attributes, so even a rendering mistake could not run a payload's code.
"""

from __future__ import annotations

from flask import Response, request

from app.dashboard import bp

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@bp.after_app_request
def content_security_policy(response: Response) -> Response:
    """Add the policy to HTML answers (the ingestion API's JSON needs none)."""
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", POLICY)
    return response


# A year; browsers then refuse plain http:// for this host (RFC 6797).
HSTS = "max-age=31536000"


@bp.after_app_request
def transport_and_referrer(response: Response) -> Response:
    """HSTS under https, and a Referer that names this site at most, never a path.

    `strict-origin`, not `no-referrer`, site-wide: Flask-WTF checks over https that a form
    POST's Referer is this origin. Pages opened from emailed links send none at all.
    """
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    response.headers.setdefault("Referrer-Policy", "strict-origin")
    return response
