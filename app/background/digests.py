"""The daily digest of an app: yesterday's counts and top new and recurring error groups,
read from rollups; each (app, day) is claimed once so two runs send one digest."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.background import alerts
from app.background.alerts import app_links, with_example_links
from app.extensions import db
from app.mail import notifications
from app.models import App, DailyRollup, DigestSent, ErrorGroup, ErrorGroupHour
from app.models.events import STATUSES
from app.models.types import as_utc

TOP_GROUPS = 5


def apps_with_violations(day: date) -> list[uuid.UUID]:
    """Apps with invalid events on `day` (UTC)."""
    start = datetime.combine(day, time(), UTC)
    query = (
        select(DailyRollup.app_id)
        .where(DailyRollup.day == start, DailyRollup.status == "invalid", DailyRollup.count > 0)
        .distinct()
        .order_by(DailyRollup.app_id)
    )
    return list(db.session.scalars(query))


def digest_of(app_id: uuid.UUID, day: date) -> dict | None:
    """Counts per status and the top new / recurring groups of `day`; None without violations."""
    start = datetime.combine(day, time(), UTC)
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in db.session.execute(
        select(DailyRollup.status, func.sum(DailyRollup.count))
        .where(DailyRollup.app_id == app_id, DailyRollup.day == start)
        .group_by(DailyRollup.status)
    ):
        counts[status] = int(n)
    if not counts["invalid"]:
        return None
    hourly = ErrorGroupHour
    in_day = (
        select(
            ErrorGroup.id,
            ErrorGroup.event_name,
            ErrorGroup.schema_version,
            ErrorGroup.path,
            ErrorGroup.keyword,
            ErrorGroup.first_seen,
            ErrorGroup.example_event_id,
            func.sum(hourly.count).label("n"),
        )
        .join(
            ErrorGroup,
            (ErrorGroup.app_id == hourly.app_id)
            & (ErrorGroup.event_name == hourly.event_name)
            & (ErrorGroup.schema_version == hourly.schema_version)
            & (ErrorGroup.path == hourly.path)
            & (ErrorGroup.keyword == hourly.keyword),
        )
        .where(hourly.app_id == app_id, hourly.hour >= start, hourly.hour < start + timedelta(1))
        .group_by(ErrorGroup.id)
        .order_by(func.sum(hourly.count).desc(), ErrorGroup.id)
    )
    new, recurring = [], []
    for row in db.session.execute(in_day):
        group = {
            "event_name": row.event_name,
            "schema_version": row.schema_version or None,
            "path": row.path,
            "keyword": row.keyword,
            "count": int(row.n),
            "first_seen": as_utc(row.first_seen).isoformat(),
            "example_event_id": str(row.example_event_id),
        }
        (new if as_utc(row.first_seen) >= start else recurring).append(group)
    return {
        "day": day.isoformat(),
        "counts": {**counts, "total": sum(counts.values())},
        "new_groups": new[:TOP_GROUPS],
        "recurring_groups": recurring[:TOP_GROUPS],
    }


def claim_digest(app_id: uuid.UUID, day: date) -> bool:
    """Record that the app's digest of `day` is being sent; False if it already was. Commits."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(DigestSent)
        .values(app_id=app_id, day=day, sent_at=datetime.now(UTC))
        .on_conflict_do_nothing()
        .returning(DigestSent.app_id)
    )
    claimed = db.session.execute(statement).first() is not None
    db.session.commit()
    return claimed


log = logging.getLogger(__name__)


def send_digests(day: date) -> dict[str, int]:
    """Send the digest of `day` for every app with violations; return {app_id: mails}."""
    sent = {}
    for app_id in apps_with_violations(day):
        try:
            sent[str(app_id)] = send_digest(app_id, day)
        except Exception:
            db.session.rollback()
            log.exception("digest of app %s for %s failed; the next run tries again", app_id, day)
    return sent


def send_digest(app_id: uuid.UUID, day: date) -> int:
    """Queue one app's digest of `day` to its opted-in members, once; return how many."""
    summary = digest_of(app_id, day)
    members = alerts.recipients(app_id, "digest")
    if summary is None or not members or not claim_digest(app_id, day):
        return 0
    app = db.session.get(App, app_id)
    links = app_links(app_id)
    for kind in ("new_groups", "recurring_groups"):
        summary[kind] = with_example_links(app_id, summary.get(kind) or [])
    queued = 0
    for email in members:
        queued += notifications.send(
            email,
            "daily_digest",
            f"{app.name}: {summary['counts']['invalid']} invalid events on {summary['day']}",
            app_name=app.name,
            summary=summary,
            opt_out_link=links["opt_out_digest"],
            **links,
        )
    return queued
