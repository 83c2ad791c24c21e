"""What every HTML blueprint shares: headers for pages with secrets, CSRF and 429 pages."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_wtf.csrf import CSRFError

from app.auth import throttle


def attach(bp: Blueprint) -> None:
    """Limit the blueprint's form posts per IP; give its pages safe headers and friendly
    CSRF and rate-limit errors."""
    bp.before_request(_limit_posts)
    bp.after_request(_headers)
    bp.register_error_handler(CSRFError, _csrf_error)
    bp.register_error_handler(throttle.Throttled, _rate_limited)


def _limit_posts() -> None:
    if request.method == "POST":
        throttle.spend("form", None, "AUTH_RATE_LIMIT")


# Views that emailed links open, with a token in their URL: they send no Referer at all.
# (Every other page needs one to its own site: Flask-WTF checks it on https form posts.)
LINK_ENDPOINTS = frozenset({"auth.reset_link", "auth.confirm"})


def _headers(response: Response) -> Response:
    # Pages carry one-time links, codes and CSRF tokens: keep them out of caches and
    # other sites' Referer headers, and out of frames.
    response.headers["Cache-Control"] = "no-store"
    linked = request.endpoint in LINK_ENDPOINTS
    response.headers["Referrer-Policy"] = "no-referrer" if linked else "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    message = (
        "This form has expired or did not come from this site. "
        "Go back, reload the page and try again."
    )
    return render_template("error.html", title="Form expired", message=message), 400


def _rate_limited(error: throttle.Throttled) -> tuple[str, int, dict]:
    message = f"Too many requests from your address. Try again in {error.minutes} minute(s)."
    return (
        render_template("error.html", title="Too many requests", message=message),
        429,
        {"Retry-After": str(error.retry_after)},
    )
