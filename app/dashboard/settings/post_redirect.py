"""Post/Redirect/Get for the settings forms: a POST never renders a page, so no page keeps
a POST address (a reload re-posts nothing).

What the next page must show travels in the session for exactly one request: a secret
shown once (a new ingest key, a webhook's signing secret), or a refused form's typed
values with the reason, shown beside its field. The session cookie is signed, HttpOnly,
and the value is removed by the page that shows it.
"""

from __future__ import annotations

from flask import session

_SHOWN_ONCE = "shown_once"
_REFUSED = "refused_form"


def show_once(kind: str, **values: object) -> None:
    """Keep `values` for the next page that asks for `kind`, once."""
    session[_SHOWN_ONCE] = {"kind": kind, **values}


def take_shown_once(kind: str) -> dict | None:
    """The values kept for `kind`, removed from the session; None when there are none."""
    kept = session.get(_SHOWN_ONCE)
    if not kept or kept.get("kind") != kind:
        return None
    session.pop(_SHOWN_ONCE)
    return kept


def refuse(form: str, field: str, reason: str, **typed: str) -> None:
    """Remember why `form` was refused, and what was typed, for the page it returns to."""
    session[_REFUSED] = {"form": form, "field": field, "reason": reason, "typed": typed}


def refusal_of(form: str) -> dict | None:
    """The refusal of `form` to show beside its field (once), or None."""
    refused = session.get(_REFUSED)
    if not refused or refused.get("form") != form:
        return None
    session.pop(_REFUSED)
    return refused
