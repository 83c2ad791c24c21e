"""Test runs: X-Test-Run is stored with the event, parallel runs never see each other's
events, the dashboard's stream hides them unless asked, and they go after a day."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import USER_LOGIN_SCHEMA


def post(client, tracked: dict, body: dict, test_run: str | None = None, batch: bool = False):
    headers = {"X-API-Key": tracked["key"], **({"X-Test-Run": test_run} if test_run else {})}
    url = f"/api/logs/{tracked['id']}" + ("/batch" if batch else "")
    return client.post(url, json=body, headers=headers)


def login(event_id: str) -> dict:
    return {"eventName": "user_login", "userId": 1, "eventId": event_id}


def test_two_parallel_runs_never_see_each_others_events(app, tracked, default_worker):
    """Two CI jobs post the same eventIds' shapes under their own run, in parallel, and
    each waits and searches only its own run."""
    runs = {"job-1": [], "job-2": []}
    answers: dict[str, list] = {name: [] for name in runs}

    def job(run: str) -> None:
        client = app.test_client()
        ids = [f"{run}-{uuid.uuid4()}" for _ in range(3)]
        runs[run] = ids
        accepted = post(client, tracked, {"events": [login(i) for i in ids]}, run, batch=True)
        assert accepted.status_code == 202
        for event_id in ids:
            answers[run].append(
                client.get(
                    f"/api/apps/{tracked['id']}/events/{event_id}?wait=30&test_run={run}",
                    headers=tracked["bearer"],
                )
            )

    jobs = [threading.Thread(target=job, args=(run,)) for run in runs]
    for thread in jobs:
        thread.start()
    for thread in jobs:
        thread.join(timeout=120)
    client = app.test_client()
    for run, other in (("job-1", "job-2"), ("job-2", "job-1")):
        assert [a.status_code for a in answers[run]] == [200, 200, 200]
        assert {a.get_json()["test_run"] for a in answers[run]} == {run}
        # The other run's event, asked for within this run, is not there.
        foreign = client.get(
            f"/api/apps/{tracked['id']}/events/{runs[other][0]}?test_run={run}",
            headers=tracked["bearer"],
        )
        assert foreign.status_code == 404 and foreign.get_json()["stored"] is False
        found = client.post(
            f"/api/apps/{tracked['id']}/events/search",
            json={"test_run": run},
            headers=tracked["bearer"],
        ).get_json()["events"]
        assert sorted(row["client_event_id"] for row in found) == sorted(runs[run])


def test_the_live_stream_hides_test_run_events_unless_asked(app, team, seed):
    app_id, owner = team["app_id"], team["owner"]
    [plain, in_run] = seed(app_id, [{"minutes_ago": 1}, {"test_run": "ci-42"}])
    default = owner.get(f"/api/apps/{app_id}/events").get_json()["events"]
    assert [row["id"] for row in default] == [plain]
    shown = owner.get(f"/api/apps/{app_id}/events?test_runs=1").get_json()["events"]
    assert [(row["id"], row["test_run"]) for row in shown] == [(in_run, "ci-42"), (plain, None)]
    page = owner.get(f"/apps/{app_id}/live").get_data(True)
    assert plain in page and in_run not in page and 'name="test_runs"' in page
    toggled = owner.get(f"/apps/{app_id}/live?test_runs=1").get_data(True)
    assert in_run in toggled


@pytest.mark.parametrize(
    ("header", "status"),
    [("run-7", 202), ("x" * 128, 202), ("x" * 129, 400), (" padded", 400), ("tab\there", 400)],
)
def test_the_test_run_header_is_checked(client, tracked, header, status):
    answer = post(client, tracked, login("checked"), test_run=header)
    assert answer.status_code == status, answer.get_json()
    if status == 400:
        assert answer.get_json()["error"] == "bad_test_run"


def test_a_segment_route_marks_records_with_its_test_run():
    from app.ingest.records import BadTestRun, mark_test_run

    records = mark_test_run([{"id": "a"}, {"id": "b"}], "ctx-run")
    assert [r["test_run"] for r in records] == ["ctx-run", "ctx-run"]
    assert mark_test_run([{"id": "c"}], None) == [{"id": "c"}]
    for bad in (5, {"id": 1}, "x" * 129, "line\nbreak"):
        with pytest.raises(BadTestRun):
            mark_test_run([{"id": "d"}], bad)


def _rows(app, app_id: str) -> dict:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Event, EventClientId, EventCount

    with app.app_context():
        return {
            "events": sorted(
                (e.client_event_id, e.test_run)
                for e in db.session.scalars(select(Event).where(Event.app_id == app_id))
            ),
            "counted": db.session.scalar(
                select(func.coalesce(func.sum(EventCount.count), 0)).where(
                    EventCount.app_id == app_id
                )
            ),
            "claims": db.session.scalar(select(func.count()).where(EventClientId.app_id == app_id)),
        }


def test_test_run_events_are_removed_after_a_day_with_their_counts_and_ids(
    app, make_tracked_app, seed
):
    from app.background import maintenance, retention

    app_id = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})["id"]
    seed(
        app_id,
        [
            {"client_event_id": "kept", "minutes_ago": 10},
            {"client_event_id": "run-old", "test_run": "r1", "minutes_ago": 10},
            {"client_event_id": "run-new", "test_run": "r2", "minutes_ago": 0},
        ],
    )
    now = datetime.now(UTC)
    with app.app_context():
        assert retention.expire_test_runs(uuid.UUID(app_id), 500, now + timedelta(hours=23)) == 0
    assert _rows(app, app_id)["counted"] == 3
    with app.app_context():
        # 24 hours after run-old was received, 5 minutes too early for run-new.
        outcome = maintenance.maintain(500, now=now + timedelta(hours=24, minutes=-5))
    assert outcome["deleted_test_run_events"][app_id] == 1
    assert _rows(app, app_id) == {
        "events": [("kept", None), ("run-new", "r2")],
        "counted": 2,  # counters still equal rows
        "claims": 2,  # the removed event's eventId is free again
    }
    with app.app_context():
        assert retention.expire_test_runs(uuid.UUID(app_id), 1, now + timedelta(hours=25)) == 1
    assert _rows(app, app_id)["events"] == [("kept", None)]
