"""Re-validation and export tasks (batch_processing): thin wrappers over app/store/."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from flask import current_app

from app.background import exports, jobs, revalidation
from app.extensions import db
from app.mail import notifications
from app.models import App, BackgroundJob, User
from celery_config import EXPORT_TASK, REVALIDATE_TASK

log = logging.getLogger(__name__)


@shared_task(name=REVALIDATE_TASK)
def revalidate_events(job_id: str) -> dict:
    """Re-validate the stored events a job names against its schema version."""
    return _run(
        job_id,
        lambda: revalidation.run_revalidation(
            uuid.UUID(job_id),
            current_app.config["JOB_CHUNK_ROWS"],
            current_app.config["MAX_ERRORS_PER_EVENT"],
        ),
    )


@shared_task(name=EXPORT_TASK)
def export_events(job_id: str) -> dict:
    """Write a job's export file, then mail its link to whoever asked for it."""
    outcome = _run(
        job_id,
        lambda: exports.run_export(
            uuid.UUID(job_id),
            current_app.config["EXPORT_DIR"],
            current_app.config["JOB_CHUNK_ROWS"],
        ),
    )
    if outcome.get("status") == "done":
        mail_export_link(uuid.UUID(job_id))
    return outcome


def _run(job_id: str, work) -> dict:
    try:
        return work()
    except Exception as exc:
        db.session.rollback()
        log.exception("job %s failed", job_id)
        jobs.finish(uuid.UUID(job_id), "failed", error=str(exc))
        raise


def mail_export_link(job_id: uuid.UUID) -> bool:
    """Queue the "your export is ready" mail with its members-only link."""
    job = db.session.get(BackgroundJob, job_id)
    user = db.session.get(User, job.requested_by) if job.requested_by else None
    if user is None:
        return False
    app = db.session.get(App, job.app_id)
    link = notifications.absolute("dashboard.download_export", app_id=app.id, job_id=job.id)
    return notifications.send(
        user.email,
        "export_ready",
        f"{app.name}: your export is ready",
        app_name=app.name,
        link=link,
        rows=job.processed,
        fmt=job.params["format"].upper(),
        hours=int(exports.EXPORT_LIFETIME.total_seconds() // 3600),
    )
