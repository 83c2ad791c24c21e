"""Exports: the events matching a stream filter and time range, as CSV or NDJSON, written
in chunks to EXPORT_DIR, downloadable by the app's members for 24 hours.

EXPORT_DIR must be one folder shared by the web processes and the batch_processing
workers (a shared volume when they run on different machines).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import func, select, tuple_, update

from app.background import jobs
from app.extensions import db
from app.models import BackgroundJob, Event
from app.models.events import STATUSES
from app.models.types import as_utc

FORMATS = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
EXPORT_LIFETIME = timedelta(hours=24)
COLUMNS = (
    "id",
    "received_at",
    "event_name",
    "status",
    "schema_version",
    "client_event_id",
    "errors",
    "payload",
)


def start_export(
    app_id: uuid.UUID,
    since: datetime,
    until: datetime,
    fmt: str,
    event_name: str | None = None,
    status: str | None = None,
    requested_by: int | None = None,
) -> BackgroundJob:
    """Record an export job (the caller queues its task); raise JobError on a bad filter."""
    if fmt not in FORMATS:
        raise jobs.JobError(f"format must be one of {sorted(FORMATS)}")
    if status and status not in STATUSES:
        raise jobs.JobError(f"status must be one of {STATUSES}")
    if as_utc(since) >= as_utc(until):
        raise jobs.JobError("the start of the range must be before its end")
    params = {
        "since": as_utc(since).isoformat(),
        "until": as_utc(until).isoformat(),
        "format": fmt,
        "event_name": event_name or None,
        "status": status or None,
    }
    total = db.session.scalar(select(func.count()).where(*matching(app_id, params)))
    return jobs.create_job(app_id, "export", params, requested_by, total)


def matching(app_id: uuid.UUID, params: dict) -> list:
    """The WHERE clauses of an export's filter."""
    clauses = [
        Event.app_id == app_id,
        Event.received_at >= datetime.fromisoformat(params["since"]),
        Event.received_at < datetime.fromisoformat(params["until"]),
    ]
    if params.get("event_name"):
        clauses.append(Event.event_name == params["event_name"])
    if params.get("status"):
        clauses.append(Event.status == params["status"])
    return clauses


def run_export(job_id: uuid.UUID, export_dir: str, chunk_rows: int) -> dict:
    """Write the job's events to its file chunk by chunk until done or cancelled."""
    job = jobs.claim_start(job_id)
    if job is None:
        return {"job": str(job_id), "status": "not started (cancelled or already run)"}
    app_id, params = job.app_id, dict(job.params)
    folder = Path(export_dir)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{job_id}.{params['format']}"
    partial = final.with_suffix(final.suffix + ".part")
    written, after = 0, None
    with partial.open("w", encoding="utf-8", newline="") as out:
        if params["format"] == "csv":
            csv.writer(out).writerow(COLUMNS)
        while True:
            if jobs.cancel_requested(job_id):
                out.close()
                partial.unlink(missing_ok=True)
                jobs.finish(job_id, "cancelled")
                return {"job": str(job_id), "status": "cancelled", "written": written}
            rows = _next_chunk(app_id, params, after, chunk_rows)
            if not rows:
                break
            out.write(_render(rows, params["format"]))
            written += len(rows)
            after = (rows[-1].received_at, rows[-1].id)
            db.session.execute(
                update(BackgroundJob).where(BackgroundJob.id == job_id).values(processed=written)
            )
            db.session.commit()
    partial.replace(final)
    jobs.finish(
        job_id, "done", file_path=str(final), expires_at=datetime.now(UTC) + EXPORT_LIFETIME
    )
    return {"job": str(job_id), "status": "done", "written": written}


def _next_chunk(app_id: uuid.UUID, params: dict, after: tuple | None, chunk_rows: int) -> list:
    query = (
        select(
            Event.id,
            Event.received_at,
            Event.event_name,
            Event.status,
            Event.schema_version,
            Event.client_event_id,
            Event.errors,
            Event.payload,
        )
        .where(*matching(app_id, params))
        .order_by(Event.received_at, Event.id)
        .limit(chunk_rows)
    )
    if after is not None:
        query = query.where(tuple_(Event.received_at, Event.id) > after)
    rows = db.session.execute(query).all()
    db.session.rollback()  # end the read transaction between chunks
    return rows


def export_record(row) -> dict:
    """One exported event as a JSON-ready dict (the NDJSON line; CSV holds the same)."""
    return {
        "id": str(row.id),
        "received_at": as_utc(row.received_at).isoformat(),
        "event_name": row.event_name,
        "status": row.status,
        "schema_version": row.schema_version,
        "client_event_id": row.client_event_id,
        "errors": row.errors,
        "payload": row.payload,
    }


def _render(rows: list, fmt: str) -> str:
    if fmt == "ndjson":
        return "".join(orjson.dumps(export_record(row)).decode() + "\n" for row in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        record = export_record(row)
        record["errors"] = orjson.dumps(record["errors"]).decode()
        record["payload"] = orjson.dumps(record["payload"]).decode()
        writer.writerow([csv_cell(record[column]) for column in COLUMNS])
    return buffer.getvalue()


# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(...) can
# send the sheet's data anywhere); OWASP's cure is a leading single quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """Return `value` as a CSV cell no spreadsheet will run as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def downloadable(job: BackgroundJob, now: datetime | None = None) -> Path | None:
    """The job's file if it is a finished, unexpired export whose file exists."""
    now = now or datetime.now(UTC)
    if job.kind != "export" or job.status != "done" or not job.file_path:
        return None
    if job.expires_at is None or as_utc(job.expires_at) <= now:
        return None
    path = Path(job.file_path)
    return path if path.is_file() else None


def remove_expired_exports(now: datetime | None = None) -> int:
    """Delete the files of expired exports (the hourly maintenance); return how many."""
    now = now or datetime.now(UTC)
    expired = list(
        db.session.scalars(
            select(BackgroundJob).where(
                BackgroundJob.kind == "export",
                BackgroundJob.file_path.is_not(None),
                BackgroundJob.expires_at <= now,
            )
        )
    )
    for job in expired:
        Path(job.file_path).unlink(missing_ok=True)
        job.file_path = None
    db.session.commit()
    return len(expired)
