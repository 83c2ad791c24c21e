"""`flask apps …`: create, add-member, rotate-key, create-read-token, revoke-read-token,
list, set-rate-limit, set-webhook, set-retention, alerts."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from app.auth.accounts import find_user
from app.background import alerts, retention, webhooks
from app.cli import emit, fail, find_app, json_option
from app.extensions import db
from app.models import App
from app.store import catalog, memberships, read_tokens
from app.store.memberships import role_of


@click.group()
def apps() -> None:
    """Manage apps and their ingest keys."""


@apps.command("create")
@click.argument("name")
@click.option("--rate-limit", default=None, help="Override INGEST_RATE_LIMIT, e.g. 100/second.")
@click.option("--owner", "owner_email", default=None, help="Email of the developer who owns it.")
@json_option
@with_appcontext
def create(name: str, rate_limit: str | None, owner_email: str | None, as_json: bool) -> None:
    """Create an app and print its id and ingest key (shown only once)."""
    owner = None
    if owner_email is not None:
        owner = find_user(owner_email)
        if owner is None:
            fail(
                f"no developer with email {owner_email!r}; create one with `flask users create`",
                as_json,
            )
    try:
        app, key = catalog.create_app(name, rate_limit, owner_id=owner.id if owner else None)
    except catalog.CatalogError as exc:
        fail(str(exc), as_json)
    data = {"id": str(app.id), "name": app.name, "ingest_key": key}
    text = f"Created app {app.name}\n  id:         {app.id}\n  ingest key: {key}\n"
    if owner is not None:
        data["owner"] = owner.email
        text += f"  owner:      {owner.email}\n"
    emit(data, as_json, text + "Keep the key now: it is stored hashed and cannot be shown again.")


@apps.command("add-member")
@click.argument("app_ref", metavar="APP")
@click.argument("email")
@click.option("--role", type=click.Choice(["owner", "member"]), default="member", show_default=True)
@json_option
@with_appcontext
def add_member(app_ref: str, email: str, role: str, as_json: bool) -> None:
    """Give a registered developer access to APP (e.g. an owner for an app made before accounts)."""
    app = find_app(app_ref, as_json)
    user = find_user(email)
    if user is None:
        fail(f"no developer with email {email!r}; create one with `flask users create`", as_json)
    try:
        memberships.add(app.id, user, role)
    except memberships.MembershipError as exc:
        fail(str(exc), as_json)
    emit(
        {"id": str(app.id), "email": user.email, "role": role},
        as_json,
        f"{user.email} is now {role} of {app.name}",
    )


@apps.command("rotate-key")
@click.argument("app_ref", metavar="APP")
@json_option
@with_appcontext
def rotate_key(app_ref: str, as_json: bool) -> None:
    """Revoke APP's ingest keys and print a new one."""
    app = find_app(app_ref, as_json)
    key = catalog.rotate_key(app)
    emit(
        {"id": str(app.id), "name": app.name, "ingest_key": key},
        as_json,
        f"New ingest key for {app.name}: {key}\nOld keys stop working within a second.",
    )


@apps.command("create-read-token")
@click.argument("app_ref", metavar="APP")
@json_option
@with_appcontext
def create_read_token(app_ref: str, as_json: bool) -> None:
    """Create a read token for APP's test API and print it (shown only once)."""
    app = find_app(app_ref, as_json)
    row, token = read_tokens.create_read_token(app)
    emit(
        {"id": str(app.id), "name": app.name, "token_id": row.id, "read_token": token},
        as_json,
        f"Read token for {app.name} (id {row.id}): {token}\n"
        "Send it as `Authorization: Bearer …`; keep it now, it is stored hashed.",
    )


@apps.command("revoke-read-token")
@click.argument("app_ref", metavar="APP")
@click.argument("token_id", type=int)
@json_option
@with_appcontext
def revoke_read_token(app_ref: str, token_id: int, as_json: bool) -> None:
    """Stop one of APP's read tokens now."""
    app = find_app(app_ref, as_json)
    try:
        row = read_tokens.revoke_read_token(app, token_id)
    except read_tokens.UnknownToken:
        fail(f"{app.name} has no read token {token_id}", as_json)
    emit(
        {"id": str(app.id), "token_id": row.id, "revoked": True},
        as_json,
        f"The read token {row.prefix}… of {app.name} no longer works.",
    )


@apps.command("set-rate-limit")
@click.argument("app_ref", metavar="APP")
@click.argument("rate_limit", metavar="LIMIT")
@json_option
@with_appcontext
def set_rate_limit(app_ref: str, rate_limit: str, as_json: bool) -> None:
    """Override APP's ingest rate limit (LIMIT like 100/second, or 'default')."""
    app = find_app(app_ref, as_json)
    value = None if rate_limit == "default" else rate_limit
    try:
        catalog.set_rate_limit(app, value)
    except catalog.CatalogError as exc:
        fail(str(exc), as_json)
    emit({"id": str(app.id), "rate_limit": value}, as_json, f"{app.name}: rate limit {rate_limit}")


@apps.command("list")
@json_option
@with_appcontext
def list_apps(as_json: bool) -> None:
    """List apps."""
    rows = [
        {"id": str(a.id), "name": a.name, "rate_limit": a.rate_limit, "created_at": a.created_at}
        for a in db.session.scalars(select(App).order_by(App.name))
    ]
    emit({"apps": rows}, as_json, "\n".join(f"{r['id']}  {r['name']}" for r in rows) or "No apps.")


@apps.command("set-webhook")
@click.argument("app_ref", metavar="APP")
@click.argument("url")
@json_option
@with_appcontext
def set_webhook(app_ref: str, url: str, as_json: bool) -> None:
    """Send APP's first-seen violation alerts to URL ('none' removes it); print the signing
    secret (shown only once)."""
    app = find_app(app_ref, as_json)
    if url == "none":
        webhooks.remove_webhook(app.id)
        emit({"id": str(app.id), "webhook_url": None}, as_json, f"{app.name}: webhook removed")
        return
    try:
        secret = webhooks.set_webhook(app.id, url, current_app.config["WEBHOOK_ALLOW_PRIVATE"])
    except webhooks.UnsafeWebhookTarget as exc:
        fail(str(exc), as_json)
    emit(
        {"id": str(app.id), "webhook_url": url, "signing_secret": secret},
        as_json,
        f"{app.name}: webhook {url}\n  signing secret: {secret}\n"
        "Keep the secret now: it is not shown again (setting the URL again makes a new one).",
    )


@apps.command("set-retention")
@click.argument("app_ref", metavar="APP")
@click.argument("days", type=int)
@json_option
@with_appcontext
def set_retention(app_ref: str, days: int, as_json: bool) -> None:
    """Keep APP's events DAYS days (1 to 3650; the default is 30)."""
    app = find_app(app_ref, as_json)
    try:
        retention.set_retention(app.id, days)
    except ValueError as exc:
        fail(str(exc), as_json)
    emit(
        {"id": str(app.id), "retention_days": days}, as_json, f"{app.name}: events kept {days} days"
    )


@apps.command("alerts")
@click.argument("app_ref", metavar="APP")
@click.argument("email")
@click.option("--on/--off", "enabled", required=True, help="Turn the mails on or off.")
@click.option(
    "--kind",
    type=click.Choice(["alerts", "digest", "all"]),
    default="all",
    show_default=True,
    help="First-seen violation alerts, the daily digest, or both.",
)
@json_option
@with_appcontext
def set_alerts(app_ref: str, email: str, enabled: bool, kind: str, as_json: bool) -> None:
    """Turn a member's violation alert and digest mails of APP on or off."""
    app = find_app(app_ref, as_json)
    user = find_user(email)
    if user is None or role_of(user.id, app.id) is None:
        fail(
            f"{email!r} is not a member of {app.name}; add them with `flask apps add-member`",
            as_json,
        )
    kinds = alerts.KINDS if kind == "all" else (kind,)
    for each in kinds:
        alerts.set_choice(app.id, user.id, each, enabled)
    emit(
        {"id": str(app.id), "email": user.email, **alerts.choice_of(app.id, user.id)},
        as_json,
        f"{user.email} on {app.name}: {', '.join(kinds)} {'on' if enabled else 'off'}",
    )
