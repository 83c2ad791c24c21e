"""What every HTML blueprint shares: headers for pages with secrets, CSRF and 429 pages."""

from __future__ import annotations

import math

from flask import Blueprint, Response, render_template
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError


def attach(bp: Blueprint) -> None:
    """Give a blueprint's pages safe headers and friendly CSRF and rate-limit errors."""
    bp.after_request(_headers)
    bp.register_error_handler(CSRFError, _csrf_error)
    bp.register_error_handler(RateLimitExceeded, _rate_limited)


def _headers(response: Response) -> Response:
    # Pages carry one-time links, codes and CSRF tokens: keep them out of caches and
    # other sites' Referer headers, and out of frames.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    message = (
        "This form has expired or did not come from this site. "
        "Go back, reload the page and try again."
    )
    return render_template("error.html", title="Form expired", message=message), 400


def _rate_limited(error: RateLimitExceeded) -> tuple[str, int, dict]:
    seconds = 60
    limit = getattr(error, "limit", None)
    if limit is not None:
        seconds = limit.limit.get_expiry()
    message = (
        "Too many requests from your address. "
        f"Wait {max(1, math.ceil(seconds / 60))} minute(s) and try again."
    )
    return (
        render_template("error.html", title="Too many requests", message=message),
        429,
        {"Retry-After": str(seconds)},
    )
