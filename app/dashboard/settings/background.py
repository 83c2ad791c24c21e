"""Background-work settings of an app: webhook and its deliveries, alert and digest
opt-in, retention. Rendered by templates/apps/_background_settings.html."""

from __future__ import annotations

import uuid

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth.forms import ButtonForm
from app.background import alert_outbox, alerts, retention, webhooks
from app.dashboard import bp
from app.dashboard.access import member_app_or_404
from app.dashboard.settings.post_redirect import refusal_of, refuse, show_once, take_shown_once
from app.extensions import db
from app.models import App, AppBackgroundSettings
from app.models.types import rfc3339

TEST_EVENT = "webhook.test"


@bp.app_template_global()
def background_settings(app: App) -> dict:
    """What the settings partial shows for the current member of `app`."""
    found = db.session.get(AppBackgroundSettings, app.id)
    return {
        "retention_days": retention.retention_days_of(app.id),
        "webhook_url": found.webhook_url if found else None,
        "deliveries": webhooks.recent_deliveries(app.id),
        "choice": alerts.choice_of(app.id, current_user.id),
        "button": ButtonForm(),
        "refused": {form: refusal_of(form) for form in ("webhook", "retention")},
        "allow_private_hint": not current_app.config["WEBHOOK_ALLOW_PRIVATE"],
    }


@bp.post("/apps/<uuid:app_id>/background/notifications")
def save_notification_choice(app_id: uuid.UUID) -> Response:
    """Turn the member's first-seen alerts or daily digest on or off."""
    app, _role = member_app_or_404(app_id)
    kind = request.form.get("kind", "")
    if ButtonForm().validate_on_submit() and kind in alerts.KINDS:
        enabled = request.form.get("enabled") == "1"
        alerts.set_choice(app.id, current_user.id, kind, enabled)
        flash(f"{_KIND_NAMES[kind].capitalize()} {'on' if enabled else 'off'}.", "success")
    else:
        flash("That request was not understood; try again.", "error")
    return _back_to_settings(app.id, "alerts")


@bp.route("/apps/<uuid:app_id>/notifications/opt-out", methods=["GET", "POST"])
def notification_opt_out(app_id: uuid.UUID) -> str | Response:
    """The link in every alert and digest mail: confirm, then stop that kind of mail."""
    app, _role = member_app_or_404(app_id)
    kind = request.values.get("kind", "")
    if kind not in alerts.KINDS:
        kind = "digest"
    form = ButtonForm()
    if request.method == "POST" and form.validate_on_submit():
        alerts.set_choice(app.id, current_user.id, kind, False)
        flash(f"You will no longer get the {_KIND_NAMES[kind]} of {app.name}.", "success")
        return _back_to_settings(app.id)
    return render_template(
        "apps/notification_opt_out.html", app=app, kind=kind, name=_KIND_NAMES[kind], form=form
    )


@bp.post("/apps/<uuid:app_id>/background/webhook")
def save_webhook(app_id: uuid.UUID) -> str | Response:
    """Set (or, with an empty URL, remove) the app's webhook; show its secret once."""
    app, _role = member_app_or_404(app_id, owner=True)
    if not ButtonForm().validate_on_submit():
        flash("That request was not understood; try again.", "error")
        return _back_to_settings(app.id)
    url = request.form.get("url", "").strip()
    if not url:
        webhooks.remove_webhook(app.id)
        flash("Webhook removed.", "success")
        return _back_to_settings(app.id)
    try:
        secret = webhooks.set_webhook(app.id, url, current_app.config["WEBHOOK_ALLOW_PRIVATE"])
    except webhooks.UnsafeWebhookTarget as exc:
        refuse("webhook", "url", f"Not saved: {exc}.", url=url)
        return _back_to_settings(app.id, "webhook")
    # Shown on the next page only, like an ingest key.
    show_once("webhook_secret", url=url, secret=secret)
    return redirect(url_for("dashboard.webhook_secret", app_id=app.id))


@bp.get("/apps/<uuid:app_id>/background/webhook/secret")
def webhook_secret(app_id: uuid.UUID) -> str | Response:
    """Show a just-saved webhook's signing secret, once."""
    app, _role = member_app_or_404(app_id, owner=True)
    kept = take_shown_once("webhook_secret")
    if kept is None:
        flash("A webhook's secret is shown once, right after saving its URL.", "info")
        return _back_to_settings(app.id, "webhook")
    return render_template("apps/webhook_secret.html", app=app, **kept)


@bp.post("/apps/<uuid:app_id>/background/webhook/test")
def send_test_webhook(app_id: uuid.UUID) -> Response:
    """Queue a signed test POST to the app's webhook."""
    app, _role = member_app_or_404(app_id)
    if not ButtonForm().validate_on_submit():
        flash("That request was not understood; try again.", "error")
        return _back_to_settings(app.id)
    delivery_id = webhooks.add_delivery(app.id, TEST_EVENT, {"test": True})
    db.session.commit()
    if delivery_id is None:
        flash("Set a webhook URL first.", "error")
    else:
        alert_outbox.queue_webhook(delivery_id)
        flash("Test delivery queued; its outcome appears in the list below.", "success")
    return _back_to_settings(app.id)


@bp.get("/apps/<uuid:app_id>/background/deliveries.json")
def webhook_deliveries(app_id: uuid.UUID) -> Response:
    """The latest webhook deliveries as JSON (static/js/background.js refreshes the list)."""
    app, _role = member_app_or_404(app_id)
    return jsonify(
        deliveries=[
            {
                "id": d.id,
                "kind": d.kind,
                "status": d.status,
                "attempts": d.attempts,
                "response_code": d.response_code,
                "error": d.error,
                "created_at": rfc3339(d.created_at),
                "last_attempt_at": rfc3339(d.last_attempt_at),
            }
            for d in webhooks.recent_deliveries(app.id)
        ]
    )


@bp.post("/apps/<uuid:app_id>/background/retention")
def save_retention(app_id: uuid.UUID) -> Response:
    """Set how many days the app's events are kept (owners only)."""
    app, _role = member_app_or_404(app_id, owner=True)
    try:
        if not ButtonForm().validate_on_submit():
            raise ValueError("that request was not understood; try again")
        days = retention.set_retention(app.id, int(request.form.get("days", "")))
    except ValueError as exc:
        reason = "a whole number of days" if "invalid literal" in str(exc) else str(exc)
        refuse("retention", "days", f"Not changed: {reason}.", days=request.form.get("days", ""))
        return _back_to_settings(app.id, "retention")
    flash(f"Events of {app.name} are now kept {days} days.", "success")
    return _back_to_settings(app.id, "retention")


def _back_to_settings(app_id: uuid.UUID, form: str = "background-settings") -> Response:
    """Post/Redirect/Get: back to Settings, scrolled to the form that was sent."""
    return redirect(url_for("dashboard.settings", app_id=app_id, _anchor=form))


_KIND_NAMES = {"alerts": "first-seen violation alerts", "digest": "daily digest"}
