"""An open live page's poll: while the app's storage mark is unchanged it answers from
Redis without PostgreSQL, with or without filters; a changed mark (a commit, even of an
older id), an unreachable Redis or a missing mark goes to the database. Polls do not
rewrite the session cookie, and trust a session they checked for POLL_TRUST_SECONDS."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
import uuid_utils
from sqlalchemy import event

from app.auth.accounts import find_user
from app.auth.sessions import poll_trust
from app.extensions import db
from app.store import live_marks
from app.store.events import store_events
from tests.support.factories import make_record, stored_events


@pytest.fixture
def statements(app):
    """The SQL statements run while the test's requests are answered."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _record_stored(app, app_id: str, event_id: str) -> None:
    """What storage does after its commit: change the app's mark."""
    with app.app_context():
        backend = app.extensions["celery"].backend
        live_marks.record_stored(backend, [{"app_id": app_id, "id": event_id}])


def _poll(web, app_id: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    answer = web.get(f"/api/apps/{app_id}/events?{query}")
    assert answer.status_code == 200, answer.get_data(True)
    return answer.get_json()


def _poll_without_cookie(web, app_id: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    answer = web.get(f"/api/apps/{app_id}/events?{query}")
    assert answer.status_code == 200, answer.get_data(True)
    assert "Set-Cookie" not in answer.headers  # the session is not rewritten every second
    return answer.get_json()


def test_an_idle_poll_answers_without_the_database(app, team, statements):
    app_id, owner = team["app_id"], team["owner"]
    older, newest = stored_events(app, app_id, [{}, {"status": "unplanned"}])
    first = _poll(owner, app_id, after=older)  # checks the membership, reads the mark
    assert [e["id"] for e in first["events"]] == [newest] and first["mark"]
    for params in ({"after": newest}, {"after": older, "status": "invalid", "q": "x"}):
        statements.clear()
        body = _poll_without_cookie(owner, app_id, mark=first["mark"], **params)
        assert body["events"] == [] and body["mark"] == first["mark"]
        # The session and the membership checked by the first poll are remembered briefly.
        assert statements == [], statements

    # Stored since: the mark changed, so the poll asks the database and finds it.
    [later] = stored_events(app, app_id, [{}])
    _record_stored(app, app_id, later)
    body = _poll(owner, app_id, after=newest, mark=first["mark"])
    assert [e["id"] for e in body["events"]] == [later] and body["mark"] != first["mark"]


def test_an_event_committed_late_with_an_older_id_reaches_a_looking_back_poll(app, team):
    """Two storage processes can commit out of order: the later commit holds the older
    id. Its mark change makes the next poll query, from a cursor that looks back."""
    app_id, owner = team["app_id"], team["owner"]
    early_id = str(uuid_utils.uuid7())  # made at ingest first...
    [newer] = stored_events(app, app_id, [{}])
    _record_stored(app, app_id, newer)
    shown = _poll(owner, app_id, after=str(uuid.UUID(int=0)))
    assert [e["id"] for e in shown["events"]] == [newer]

    with app.app_context():  # ...and stored last
        store_events([make_record(app_id, id=early_id, status="unplanned")])
    _record_stored(app, app_id, early_id)
    look_back = _id_floor(uuid.UUID(newer), seconds=10)
    body = _poll(owner, app_id, after=look_back, mark=shown["mark"])
    assert [e["id"] for e in body["events"]] == [newer, early_id]


def _id_floor(event_id: uuid.UUID, seconds: float) -> str:
    """The smallest UUIDv7 of `seconds` before the id's moment (as static/js/live.js does)."""
    moment = (event_id.int >> 80) - int(seconds * 1000)
    return str(uuid.UUID(int=moment << 80))


def test_without_redis_the_poll_asks_the_database(app, team, statements, monkeypatch):
    app_id, owner = team["app_id"], team["owner"]
    older, newest = stored_events(app, app_id, [{}, {}])
    mark = _poll(owner, app_id, after=older)["mark"]
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    monkeypatch.setitem(app.extensions, "live_marks_reader", dead)
    statements.clear()
    body = _poll(owner, app_id, after=older, mark=mark)
    assert [e["id"] for e in body["events"]] == [newest] and body["mark"] is None
    assert [s for s in statements if "FROM events" in s]


def test_a_mark_that_expired_is_never_recreated_at_an_old_value(app, team):
    app_id, owner = team["app_id"], team["owner"]
    [only] = stored_events(app, app_id, [{}])
    marks = set()
    with app.app_context():
        client = live_marks.results_store()
        for _ in range(5):
            marks.add(_poll(owner, app_id, after=only)["mark"])
            client.delete(live_marks.KEY_PREFIX + app_id)  # expired, or Redis flushed
    assert len(marks) == 5


def test_a_stranger_polling_with_a_cursor_gets_404(app, team):
    app_id = team["app_id"]
    [only] = stored_events(app, app_id, [{}])
    _record_stored(app, app_id, only)
    answer = team["stranger"].get(f"/api/apps/{app_id}/events?after={only}")
    assert answer.status_code == 404
    assert team["stranger"].get(f"/api/apps/{uuid.uuid4()}/events?after={only}").status_code == 404


class _Later:
    """time.monotonic, moved forward: the poll trust of every checked session has ended."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.seconds


def _end_every_session(app, email: str) -> None:
    with app.app_context():
        user = find_user(email)
        user.session_epoch += 1  # what logging out does (sessions.end_everywhere)
        db.session.commit()


def test_an_ended_session_polls_at_most_poll_trust_seconds_longer(app, team):
    app_id, owner = team["app_id"], team["owner"]
    [only] = stored_events(app, app_id, [{}])
    mark = _poll(owner, app_id, after=only)["mark"]  # checks the session against the database
    _end_every_session(app, team["owner_email"])
    # Within POLL_TRUST_SECONDS this process still trusts the session for polls only:
    # anything else checks the database and is refused at once.
    _poll(owner, app_id, after=only, mark=mark)
    assert owner.get(f"/api/apps/{app_id}/events?limit=5").status_code == 401


def test_once_the_poll_trust_ends_an_ended_session_is_refused(app, team, monkeypatch):
    app_id, owner = team["app_id"], team["owner"]
    [only] = stored_events(app, app_id, [{}])
    mark = _poll(owner, app_id, after=only)["mark"]
    _end_every_session(app, team["owner_email"])
    seconds = app.config["POLL_TRUST_SECONDS"]
    monkeypatch.setattr(poll_trust, "time", _Later(seconds + 0.1))
    answer = owner.get(f"/api/apps/{app_id}/events?after={only}&mark={mark}")
    assert answer.status_code == 401


def test_with_no_poll_trust_every_poll_checks_the_session(app, team, statements, monkeypatch):
    monkeypatch.setitem(app.config, "POLL_TRUST_SECONDS", 0)
    app_id, owner = team["app_id"], team["owner"]
    [only] = stored_events(app, app_id, [{}])
    mark = _poll(owner, app_id, after=only)["mark"]
    statements.clear()
    _poll(owner, app_id, after=only, mark=mark)
    assert [s for s in statements if "FROM users" in s], statements
    _end_every_session(app, team["owner_email"])
    assert owner.get(f"/api/apps/{app_id}/events?after={only}&mark={mark}").status_code == 401
