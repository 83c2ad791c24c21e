"""Re-validation and export jobs of an app: start, follow as JSON, cancel, download.
Rendered by templates/plan/_revalidate.html and templates/live/_export.html."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth.forms import ButtonForm
from app.background import exports, jobs, revalidation
from app.celery_client import celery_client
from app.dashboard import bp
from app.dashboard.access import member_app_or_404
from app.extensions import db
from app.models import App
from app.store import catalog
from celery_config import EXPORT_TASK, REVALIDATE_TASK


@bp.app_template_global()
def background_jobs(app: App, kind: str) -> dict:
    """What the re-validation and export partials show."""
    now = datetime.now(UTC)
    return {
        "jobs": jobs.recent_jobs(app.id, kind),
        "schemas": catalog.latest_schemas(app.id),
        "since": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "until": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        "button": ButtonForm(),
    }


@bp.app_template_global()
def describe_job(job) -> str:
    """A job row's "What": its event name, status filter, version and format."""
    return jobs.describe(job.kind, job.params or {})


@bp.app_template_global()
def previous_verdict(event_id: uuid.UUID | str) -> dict | None:
    """An event's verdict before its latest re-validation (the event detail page)."""
    return revalidation.previous_verdict(uuid.UUID(str(event_id)))


@bp.post("/apps/<uuid:app_id>/revalidations")
def start_revalidation(app_id: uuid.UUID) -> Response:
    """Queue a re-validation of an event name's stored events against a schema version."""
    app, _role = member_app_or_404(app_id)
    try:
        _check_form()
        job = revalidation.start_revalidation(
            app.id,
            request.form.get("event_name", ""),
            _moment("since"),
            _moment("until"),
            _whole_number("schema_version"),
            current_user.id,
        )
    except jobs.JobError as exc:
        flash(f"Re-validation not started: {exc}.", "revalidate error")
    else:
        _queue(job, REVALIDATE_TASK)
        flash(f"Re-validating {job.total} events; progress shows below.", "revalidate success")
    return redirect(url_for("dashboard.tracking_plan", app_id=app.id, _anchor="revalidate"))


@bp.post("/apps/<uuid:app_id>/exports")
def start_export(app_id: uuid.UUID) -> Response:
    """Queue an export of the events matching a filter and time range."""
    app, _role = member_app_or_404(app_id)
    try:
        _check_form()
        job = exports.start_export(
            app.id,
            _moment("since"),
            _moment("until"),
            request.form.get("format", ""),
            request.form.get("event_name") or None,
            request.form.get("status") or None,
            current_user.id,
        )
    except jobs.JobError as exc:
        flash(f"Export not started: {exc}.", "export error")
    else:
        _queue(job, EXPORT_TASK)
        flash(
            f"Exporting {job.total} events; we email you the link when it is ready.",
            "export success",
        )
    return redirect(url_for("dashboard.export_page", app_id=app.id, _anchor="export"))


@bp.get("/apps/<uuid:app_id>/export")
def export_page(app_id: uuid.UUID) -> str:
    """The export form (filters preselected from the address) and the app's export jobs."""
    app, role = member_app_or_404(app_id)
    return render_template("apps/export.html", app=app, role=role)


@bp.get("/apps/<uuid:app_id>/jobs/<job_id>.json")
def job_progress(app_id: uuid.UUID, job_id: str) -> Response:
    """A job's state and counts (static/js/background.js polls it)."""
    app, _role = member_app_or_404(app_id)
    job = jobs.job_of(app.id, job_id) or abort(404)
    progress = jobs.progress_of(job)
    if exports.downloadable(job):
        progress["download"] = url_for("dashboard.download_export", app_id=app.id, job_id=job.id)
    return jsonify(progress)


@bp.post("/apps/<uuid:app_id>/jobs/<job_id>/cancel")
def cancel_job(app_id: uuid.UUID, job_id: str) -> Response:
    """Stop a job: revoke its task if still queued, and stop it after its current chunk."""
    app, _role = member_app_or_404(app_id)
    job = jobs.job_of(app.id, job_id) or abort(404)
    if ButtonForm().validate_on_submit() and job.status not in jobs.FINISHED:
        jobs.request_cancel(job)
        if job.task_id:
            celery_client.app.control.revoke(job.task_id)
        flash("Cancelling: the events already done keep their new verdict.", "success")
    return redirect(request.referrer or url_for("dashboard.show_app", app_id=app.id))


@bp.get("/apps/<uuid:app_id>/exports/<job_id>")
def download_export(app_id: uuid.UUID, job_id: str) -> Response:
    """Download a finished export (members only; 410 once it has expired)."""
    app, _role = member_app_or_404(app_id)
    job = jobs.job_of(app.id, job_id)
    if job is None or job.kind != "export":
        abort(404)
    path = exports.downloadable(job)
    if path is None:
        abort(410 if job.status == "done" else 404)
    fmt = job.params["format"]
    return send_file(
        path,
        mimetype=exports.FORMATS[fmt],
        as_attachment=True,
        download_name=f"{app.name}-{job.created_at:%Y%m%d-%H%M%S}.{fmt}",
    )


def _queue(job, task_name: str) -> None:
    result = celery_client.app.send_task(task_name, args=(str(job.id),))
    job.task_id = result.id
    db.session.commit()


def _check_form() -> None:
    if not ButtonForm().validate_on_submit():
        raise jobs.JobError("the form expired; try again")


def _moment(field: str) -> datetime:
    """A datetime-local field (or ISO 8601 text), read as UTC."""
    value = request.form.get(field, "").strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise jobs.JobError(f"{field} must be a date and time like 2026-11-21T13:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _whole_number(field: str) -> int:
    try:
        return int(request.form.get(field, ""))
    except ValueError:
        raise jobs.JobError(f"{field} must be a whole number") from None
