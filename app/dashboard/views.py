"""/apps: the developer's apps with their last hour, one app's overview, members."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.auth import pages
from app.auth.accounts import find_user
from app.auth.forms import ButtonForm
from app.dashboard import bp
from app.dashboard.access import member_app_or_404
from app.dashboard.forms import CreateAppForm, InviteForm
from app.dashboard.settings.post_redirect import show_once, take_shown_once
from app.mail import notifications
from app.store import catalog, memberships, plan
from app.store.ranges import RANGES
from app.store.reads import counts as stats
from app.store.reads import range_counts as range_stats
from app.store.reads import range_errors

pages.attach(bp)

OVERVIEW_RANGES = ("15m", "1h", "24h", "7d")  # the overview's count cards


@bp.before_request
@login_required
def _members_only() -> None:
    """Every page here needs a logged-in developer."""


@bp.route("/apps", methods=["GET", "POST"])
def list_apps() -> str:
    """List the developer's apps; create an app (its owner is the developer)."""
    form = CreateAppForm()
    if form.validate_on_submit():
        try:
            created, key = catalog.create_app(form.name.data, owner_id=current_user.id)
        except catalog.CatalogError as exc:
            form.name.errors = [_sentence(exc)]
        else:
            # Shown on the next page only: the key is stored hashed and never again readable.
            show_once("ingest_key", ingest_key=key, overlap_hours=None, new_app=True)
            return redirect(url_for("dashboard.app_created", app_id=created.id))
    apps = memberships.apps_of(current_user.id)
    last_hour = stats.counts_of_apps(
        [app.id for app, _role in apps], datetime.now(UTC) - timedelta(hours=1)
    )
    return render_template("apps/list.html", apps=apps, last_hour=last_hour, form=form)


@bp.get("/apps/<uuid:app_id>/created")
def app_created(app_id: uuid.UUID) -> str | Response:
    """Show a new app's ingest key, once, with a ready curl line."""
    app, _role = member_app_or_404(app_id, owner=True)
    kept = take_shown_once("ingest_key")
    if kept is None:
        return redirect(url_for("dashboard.show_app", app_id=app.id))
    return render_template("apps/created.html", app=app, ingest_key=kept["ingest_key"])


@bp.get("/apps/<uuid:app_id>")
def show_app(app_id: uuid.UUID) -> str:
    """Show one app's overview: counts, chart, top failing names, error groups, unplanned."""
    app, role = member_app_or_404(app_id)
    now = datetime.now(UTC)
    day = range_stats.range_stats(app.id, RANGES["24h"], now)
    counts = {
        name: range_stats.range_summary(app.id, RANGES[name], now)["counts"]
        for name in OVERVIEW_RANGES
    }
    return render_template(
        "apps/overview.html",
        app=app,
        role=role,
        counts=counts,
        top_failing=day["top_failing"],
        unplanned_split=plan.split_unplanned(
            day["unplanned"], {s.event_name for s in catalog.latest_schemas(app.id)}
        ),
        errors=range_errors.range_errors(app.id, RANGES["24h"], now),
        schemas=catalog.latest_schemas(app.id),
    )


@bp.post("/apps/<uuid:app_id>/members")
def invite_member(app_id: uuid.UUID) -> str | Response:
    """Add a registered developer to the app (owners only) and email them."""
    app, _role = member_app_or_404(app_id, owner=True)
    form = InviteForm()
    if form.validate_on_submit():
        # One answer whether or not the address has an account: the form must not tell
        # an owner which addresses are registered.
        invitee = find_user(form.email.data)
        if invitee is not None and memberships.role_of(invitee.id, app.id) is None:
            memberships.add(app.id, invitee)
            link = notifications.absolute("dashboard.show_app", app_id=app.id)
            notifications.invitation(invitee.email, app.name, current_user.email, link)
        flash(
            f"If {form.email.data} has an account here, they are a member of {app.name} now "
            "and we emailed them. If not, ask them to register first, then invite them again.",
            "success",
        )
    else:
        for error in form.email.errors:
            flash(error, "error")
    return redirect(url_for("dashboard.settings", app_id=app.id))


@bp.post("/apps/<uuid:app_id>/members/<int:user_id>/remove")
def remove_member(app_id: uuid.UUID, user_id: int) -> Response:
    """Remove a member (owners), or leave the app (any member removing themselves)."""
    leaving = user_id == current_user.id
    app, _role = member_app_or_404(app_id, owner=not leaving)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        memberships.remove(app.id, user_id)
    except memberships.MembershipError as exc:
        flash(_sentence(exc), "error")
        return redirect(url_for("dashboard.settings", app_id=app.id))
    if leaving:
        flash(f"You left {app.name}.", "success")
        return redirect(url_for("dashboard.list_apps"))
    flash("The member was removed.", "success")
    return redirect(url_for("dashboard.settings", app_id=app.id))


def _sentence(error: Exception) -> str:
    text = str(error)
    return text[:1].upper() + text[1:] + "."
