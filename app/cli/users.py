"""`flask users create`, `flask users make-admin`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.auth import accounts
from app.cli import emit, fail, json_option


@click.group()
def users() -> None:
    """Manage developer accounts."""


@users.command("create")
@click.argument("email")
@json_option
@with_appcontext
def create(email: str, as_json: bool) -> None:
    """Create a confirmed developer and print a one-time link to set their password."""
    try:
        user, link = accounts.create_confirmed(email)
    except accounts.AccountError as exc:
        fail(str(exc), as_json)
    hours = accounts.tokens.lifetime("set_password").total_seconds() / 3600
    emit(
        {"id": user.id, "email": user.email, "password_set_link": link, "link_valid_hours": hours},
        as_json,
        f"Created developer {user.email} (confirmed)\n"
        f"  Set the password (link works once, for {hours:g} hours):\n  {link}",
    )


@users.command("make-admin")
@click.argument("email")
@json_option
@with_appcontext
def make_admin(email: str, as_json: bool) -> None:
    """Let a developer see the installation's system page (queues, workers, dead letters)."""
    try:
        user = accounts.make_admin(email)
    except accounts.AccountError as exc:
        fail(str(exc), as_json)
    emit(
        {"id": user.id, "email": user.email, "is_admin": True}, as_json, f"{user.email} is an admin"
    )
