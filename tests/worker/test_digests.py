"""The daily digest through real workers: expected counts for opted-in members, none for
opted-out members or apps without violations, one digest however many runs."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, time, timedelta

from app.auth.accounts import find_user
from app.background import alerts
from app.background.digests import send_digest
from app.store import memberships
from app.store.rollups import compute as rollups
from celery_config import DIGEST_TASK
from tests.background import invalid_errors, run_on_worker, store_at

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def _join(app, app_id: str, email: str, digest: bool) -> None:
    with app.app_context():
        user = find_user(email)
        memberships.add(uuid.UUID(app_id), user)
        alerts.set_choice(uuid.UUID(app_id), user.id, "digest", digest)


def _events_yesterday(app, app_id: str, statuses: list[str], errors=(("/userId", "type"),)):
    noon = datetime.combine(YESTERDAY, time(12), UTC)
    with app.app_context():
        for n, status in enumerate(statuses):
            store_at(
                app_id,
                noon + timedelta(minutes=n),
                status=status,
                errors=invalid_errors(*errors) if status == "invalid" else [],
                schema_version=1 if status == "invalid" else None,
            )
        rollups.roll_up(uuid.UUID(app_id), hours=48)


def test_digest_counts_and_who_gets_it(
    app, make_tracked_app, make_user, smtp_sink, batch_worker, emails_worker
):
    broken, clean = make_tracked_app(), make_tracked_app()
    opted_in, opted_out, clean_member = make_user(), make_user(), make_user()
    _join(app, broken["id"], opted_in, digest=True)
    _join(app, broken["id"], opted_out, digest=False)
    _join(app, clean["id"], clean_member, digest=True)
    _events_yesterday(app, broken["id"], ["valid"] * 3 + ["invalid"] * 2 + ["unplanned"])
    _events_yesterday(app, clean["id"], ["valid"] * 4)

    sent = run_on_worker(app, DIGEST_TASK, YESTERDAY.isoformat())
    assert sent[broken["id"]] == 1 and clean["id"] not in sent
    mail = smtp_sink.wait_for(opted_in, "invalid events on")
    text = mail.get_body(("plain",)).get_content()
    assert "6 events: 3 valid, 2 invalid, 1 unplanned." in text
    assert "New errors:" in text and "type at /userId, 2 event(s)" in text
    assert f"example event: http://127.0.0.1:8000/apps/{broken['id']}/events/" in text
    assert "notifications/opt-out?kind=digest" in text
    assert "2 invalid events" in mail["Subject"]

    # A second run (another beat, a retry) sends nothing more.
    assert run_on_worker(app, DIGEST_TASK, YESTERDAY.isoformat())[broken["id"]] == 0
    assert smtp_sink.received(opted_out) == [] and smtp_sink.received(clean_member) == []
    assert len(smtp_sink.received(opted_in, "invalid events on")) == 1


def test_two_concurrent_digest_runs_send_one(app, make_tracked_app, make_user, smtp_sink):
    target = make_tracked_app()
    member = make_user()
    _join(app, target["id"], member, digest=True)
    _events_yesterday(app, target["id"], ["invalid"])
    queued = []

    def run() -> None:
        with app.app_context():
            queued.append(send_digest(uuid.UUID(target["id"]), YESTERDAY))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(queued) == [0, 1]
