"""GET /api/apps/<app>/events/<id>?wait=N: answers at once when stored, else sleeps until
a real `default` worker stores the event (woken by its notice) or the wait ends."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import event as sa_event

from tests.support.processes import wait_for


def post(client, tracked: dict, body: dict, test_run: str | None = None) -> dict:
    headers = {"X-API-Key": tracked["key"]}
    if test_run:
        headers["X-Test-Run"] = test_run
    answer = client.post(f"/api/logs/{tracked['id']}", json=body, headers=headers)
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()


def login(user_id: int = 7, method: str = "password", **extra) -> dict:
    return {"eventName": "user_login", "userId": user_id, "method": method, **extra}


def test_wait_returns_the_stored_event_with_its_verdict(app, client, tracked, default_worker):
    event_id = f"ci-{uuid.uuid4()}"
    post(client, tracked, login(eventId=event_id))
    answer = client.get(
        f"/api/apps/{tracked['id']}/events/{event_id}?wait=30", headers=tracked["bearer"]
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["stored"] is True
    assert body["status"] == "valid" and body["errors"] == []
    assert body["client_event_id"] == event_id
    assert body["payload"] == login(eventId=event_id)
    assert body["received_at"] and body["stored_at"]


def test_wait_by_our_id_returns_an_invalid_event_with_its_errors(
    app, client, tracked, default_worker
):
    accepted = post(client, tracked, login(user_id="seven"))
    answer = client.get(
        f"/api/apps/{tracked['id']}/events/{accepted['event_id']}?wait=30",
        headers=tracked["bearer"],
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["id"] == accepted["event_id"] and body["status"] == "invalid"
    assert [error["path"] for error in body["errors"]] == ["/userId"]


def test_a_stored_event_is_answered_without_wait(app, client, tracked, seed):
    [event_id] = seed(tracked["id"], [{"client_event_id": "stored-before"}])
    for wanted in (event_id, "stored-before"):
        answer = client.get(f"/api/apps/{tracked['id']}/events/{wanted}", headers=tracked["bearer"])
        assert answer.status_code == 200 and answer.get_json()["id"] == event_id


def test_an_unknown_id_is_404_not_stored_after_the_wait(client, tracked):
    answer = client.get(
        f"/api/apps/{tracked['id']}/events/never-sent?wait=0.3", headers=tracked["bearer"]
    )
    assert answer.status_code == 404
    assert answer.get_json()["stored"] is False


@pytest.mark.parametrize("wait", ["abc", "-1", "nan", "inf", "1e400"])
def test_a_bad_wait_is_400(client, tracked, wait):
    answer = client.get(
        f"/api/apps/{tracked['id']}/events/x?wait={wait}", headers=tracked["bearer"]
    )
    assert answer.status_code == 400
    assert "wait" in answer.get_json()["message"]


def test_a_waiter_started_before_the_post_wakes_when_the_worker_stores_it(
    app, client, tracked, default_worker
):
    from app.testapi.waiters import stored_notices

    notices = stored_notices.state(app)
    event_id = f"ci-{uuid.uuid4()}"
    answers = []

    def wait() -> None:
        answers.append(
            app.test_client().get(
                f"/api/apps/{tracked['id']}/events/{event_id}?wait=30", headers=tracked["bearer"]
            )
        )

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_for(lambda: notices.waiting == 1 and notices.listening.is_set(), timeout=10, interval=0.02)
    assert answers == []  # still waiting: nothing was stored yet
    post(client, tracked, login(eventId=event_id))
    waiter.join(timeout=40)
    [answer] = answers
    assert answer.status_code == 200, answer.get_json()  # 404 had the wait run out
    assert answer.get_json()["status"] == "valid"
    assert notices.waiting == 0


def test_a_waiter_reads_the_database_only_when_woken(app, client, tracked, make_tracked_app):
    """No polling: waiting 3 s with nothing stored reads the database a few times (before,
    after subscribing, at the end), while another app's notices never wake it."""
    from app.extensions import db
    from app.store import live_marks

    other_app = make_tracked_app()["id"]
    backend = app.extensions["celery"].backend

    def notify_other_app() -> None:
        for _ in range(10):
            live_marks.record_stored(backend, [{"app_id": other_app}])
            time.sleep(0.2)

    statements = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if "event_client_ids" in statement:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", count)
    other = threading.Thread(target=notify_other_app)
    try:
        other.start()
        answer = client.get(
            f"/api/apps/{tracked['id']}/events/never-sent?wait=3", headers=tracked["bearer"]
        )
    finally:
        other.join()
        sa_event.remove(engine, "before_cursor_execute", count)
    assert answer.status_code == 404
    print(f"{len(statements)} reads in a 3 s wait")
    assert 2 <= len(statements) <= 4, statements


def test_waiters_beyond_the_cap_are_answered_503_with_retry_after(
    app, client, tracked, monkeypatch
):
    from app.testapi.waiters import stored_notices

    notices = stored_notices.state(app)
    monkeypatch.setattr(notices, "max_waiters", 1)
    held = threading.Thread(
        target=lambda: app.test_client().get(
            f"/api/apps/{tracked['id']}/events/held?wait=3", headers=tracked["bearer"]
        )
    )
    held.start()
    try:
        wait_for(lambda: notices.waiting == 1, timeout=10, interval=0.02)
        refused = client.get(
            f"/api/apps/{tracked['id']}/events/second?wait=3", headers=tracked["bearer"]
        )
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert refused.get_json()["error"] == "too_many_waiters"
        at_once = client.get(f"/api/apps/{tracked['id']}/events/second", headers=tracked["bearer"])
        assert at_once.status_code == 404  # no wait asked: no waiter needed
    finally:
        held.join()
