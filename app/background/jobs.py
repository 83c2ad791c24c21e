"""Background jobs a developer starts and follows: creation, progress, cancellation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update

from app.extensions import db
from app.models import BackgroundJob
from app.models.types import rfc3339

FINISHED = ("done", "cancelled", "failed")


class JobError(ValueError):
    """A job that cannot be started as asked (the message says why)."""


def create_job(
    app_id: uuid.UUID, kind: str, params: dict, requested_by: int | None, total: int
) -> BackgroundJob:
    """Record a queued job; commit."""
    job = BackgroundJob(
        app_id=app_id,
        kind=kind,
        status="queued",
        params=params,
        requested_by=requested_by,
        cancel_requested=False,
        total=total,
        processed=0,
        changed=0,
    )
    db.session.add(job)
    db.session.commit()
    return job


def job_of(app_id: uuid.UUID, job_id: uuid.UUID | str) -> BackgroundJob | None:
    """The app's job with that id, or None (another app's job is None too)."""
    try:
        job_uuid = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(job_id)
    except ValueError:
        return None
    job = db.session.get(BackgroundJob, job_uuid)
    return job if job is not None and job.app_id == app_id else None


def recent_jobs(app_id: uuid.UUID, kind: str, limit: int = 5) -> list[BackgroundJob]:
    """The app's latest jobs of a kind, newest first."""
    return list(
        db.session.scalars(
            select(BackgroundJob)
            .where(BackgroundJob.app_id == app_id, BackgroundJob.kind == kind)
            .order_by(BackgroundJob.created_at.desc())
            .limit(limit)
        )
    )


def request_cancel(job: BackgroundJob) -> None:
    """Ask a job to stop: a queued one is cancelled at once, a running one after its
    current chunk (which commits or rolls back as a whole)."""
    db.session.execute(
        update(BackgroundJob).where(BackgroundJob.id == job.id).values(cancel_requested=True)
    )
    db.session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.id == job.id, BackgroundJob.status == "queued")
        .values(status="cancelled", finished_at=datetime.now(UTC))
    )
    db.session.commit()


def claim_start(job_id: uuid.UUID) -> BackgroundJob | None:
    """Move a queued job to running (once); None if it was cancelled or already ran."""
    started = db.session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.id == job_id, BackgroundJob.status == "queued")
        .values(status="running")
        .returning(BackgroundJob.id)
    ).first()
    db.session.commit()
    return db.session.get(BackgroundJob, job_id) if started else None


def cancel_requested(job_id: uuid.UUID) -> bool:
    """Whether someone asked the job to stop (read fresh from the database)."""
    return bool(
        db.session.scalar(select(BackgroundJob.cancel_requested).where(BackgroundJob.id == job_id))
    )


def finish(job_id: uuid.UUID, status: str, error: str | None = None, **values) -> None:
    """Record a job's end; commit."""
    db.session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.id == job_id)
        .values(status=status, error=error and error[:500], finished_at=datetime.now(UTC), **values)
    )
    db.session.commit()


def progress_of(job: BackgroundJob) -> dict:
    """What a progress bar shows, as JSON."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "processed": job.processed,
        "total": job.total,
        "changed": job.changed,
        "cancel_requested": job.cancel_requested,
        "error": job.error,
        "created_at": rfc3339(job.created_at),
        "finished_at": rfc3339(job.finished_at),
        "expires_at": rfc3339(job.expires_at),
        "params": job.params,
    }


def describe(kind: str, params: dict) -> str:
    """What a job works on, in words, naming every filter it was started with."""
    what = [params["event_name"] if params.get("event_name") else "all event names"]
    if params.get("status"):
        what.append(f"{params['status']} only")
    if params.get("schema_version"):
        what.append(f"against v{params['schema_version']}")
    if kind == "export" and params.get("format"):
        what.append(f"as {params['format'].upper()}")
    return ", ".join(what)
