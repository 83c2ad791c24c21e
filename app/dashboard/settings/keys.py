"""/apps/<app_id>/settings: ingest keys (create, rotate with overlap, revoke), the test API's
read tokens (create, revoke) and members."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import abort, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from app.auth.forms import ButtonForm
from app.dashboard import bp
from app.dashboard.access import member_app_or_404
from app.dashboard.forms import InviteForm, RotateKeyForm
from app.dashboard.settings.post_redirect import show_once, take_shown_once
from app.store import catalog, memberships, read_tokens


@bp.get("/apps/<uuid:app_id>/settings")
def settings(app_id: uuid.UUID) -> str:
    """Show the app's keys (prefixes only) and members, with the owners' actions."""
    app, role = member_app_or_404(app_id)
    return render_template(
        "apps/settings.html",
        app=app,
        role=role,
        keys=catalog.keys_of(app),
        read_tokens=read_tokens.read_tokens_of(app.id),
        members=memberships.members_of(app.id),
        invite=InviteForm(),
        rotate=RotateKeyForm(),
        button=ButtonForm(),
    )


@bp.post("/apps/<uuid:app_id>/keys")
def create_key(app_id: uuid.UUID) -> Response:
    """Add an ingest key (owners); show it once."""
    app, _role = member_app_or_404(app_id, owner=True)
    if not ButtonForm().validate_on_submit():
        abort(400)
    key = catalog.add_key(app)
    show_once("ingest_key", ingest_key=key, overlap_hours=None)
    return redirect(url_for("dashboard.new_key", app_id=app.id))


@bp.post("/apps/<uuid:app_id>/keys/rotate")
def rotate_key(app_id: uuid.UUID) -> str | Response:
    """Make a new key; the others keep working for the chosen overlap, then stop."""
    app, _role = member_app_or_404(app_id, owner=True)
    form = RotateKeyForm()
    if not form.validate_on_submit():
        flash("Choose how long the old keys keep working.", "error")
        return redirect(url_for("dashboard.settings", app_id=app.id))
    overlap = timedelta(hours=int(form.overlap_hours.data))
    key = catalog.rotate_key(app, overlap=overlap)
    show_once("ingest_key", ingest_key=key, overlap_hours=int(form.overlap_hours.data))
    return redirect(url_for("dashboard.new_key", app_id=app.id))


@bp.get("/apps/<uuid:app_id>/keys/new")
def new_key(app_id: uuid.UUID) -> str | Response:
    """Show a just-made ingest key, once (the page a key's POST redirects to)."""
    app, _role = member_app_or_404(app_id, owner=True)
    kept = take_shown_once("ingest_key")
    if kept is None:
        flash("A key is shown once, right after it is made; make another if it was lost.", "info")
        return redirect(url_for("dashboard.settings", app_id=app.id))
    overlap = None if kept["overlap_hours"] is None else timedelta(hours=kept["overlap_hours"])
    return render_template(
        "apps/key_shown.html", app=app, ingest_key=kept["ingest_key"], overlap=overlap
    )


@bp.post("/apps/<uuid:app_id>/keys/<int:key_id>/revoke")
def revoke_key(app_id: uuid.UUID, key_id: int) -> Response:
    """Stop one key now (owners)."""
    app, _role = member_app_or_404(app_id, owner=True)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        key = catalog.revoke_key(app, key_id)
    except catalog.CatalogError:
        abort(404)
    flash(f"The key {key.prefix}… no longer works.", "success")
    return redirect(url_for("dashboard.settings", app_id=app.id))


@bp.post("/apps/<uuid:app_id>/read-tokens")
def create_read_token(app_id: uuid.UUID) -> str:
    """Create a read token for the test API (owners); show it once."""
    app, _role = member_app_or_404(app_id, owner=True)
    if not ButtonForm().validate_on_submit():
        abort(400)
    _row, token = read_tokens.create_read_token(app)
    return render_template("apps/read_token_shown.html", app=app, read_token=token)


@bp.post("/apps/<uuid:app_id>/read-tokens/<int:token_id>/revoke")
def revoke_read_token(app_id: uuid.UUID, token_id: int) -> Response:
    """Stop one read token now (owners)."""
    app, _role = member_app_or_404(app_id, owner=True)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        row = read_tokens.revoke_read_token(app, token_id)
    except read_tokens.UnknownToken:
        abort(404)
    flash(f"The read token {row.prefix}… no longer works.", "success")
    return redirect(url_for("dashboard.settings", app_id=app.id))
