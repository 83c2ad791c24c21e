"""Queue each app's daily digest to its opted-in members (mail on the `emails` queue)."""

from __future__ import annotations

import logging
import uuid
from datetime import date

from app.auth import notifications
from app.extensions import db
from app.models import App
from app.store import alerts, digests
from app.worker.alerting import app_links, with_example_links

log = logging.getLogger(__name__)


def send_digests(day: date) -> dict[str, int]:
    """Send the digest of `day` for every app with violations; return {app_id: mails}."""
    sent = {}
    for app_id in digests.apps_with_violations(day):
        try:
            sent[str(app_id)] = send_digest(app_id, day)
        except Exception:
            db.session.rollback()
            log.exception("digest of app %s for %s failed; the next run tries again", app_id, day)
    return sent


def send_digest(app_id: uuid.UUID, day: date) -> int:
    """Queue one app's digest of `day` to its opted-in members, once; return how many."""
    summary = digests.digest_of(app_id, day)
    members = alerts.recipients(app_id, "digest")
    if summary is None or not members or not digests.claim_digest(app_id, day):
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
