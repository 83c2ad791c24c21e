"""An open live page's poll: with nothing new it answers from Redis without PostgreSQL,
with or without filters; anything newer, an unknown newest id or an unreachable Redis
goes to the database. Polls do not rewrite the session cookie."""

from __future__ import annotations

import uuid

import pytest
import redis
from sqlalchemy import event

from app.extensions import db
from app.store import newest_events
from tests.support import stored_events


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


def _remember(app, app_id: str, event_id: str) -> None:
    with app.app_context():
        backend = app.extensions["celery"].backend
        newest_events.remember(backend, [{"app_id": app_id, "id": event_id}])


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
    _remember(app, app_id, newest)
    _poll(owner, app_id, after=older)  # the first poll checks the membership
    for params in ({"after": newest}, {"after": newest, "status": "invalid", "q": "x"}):
        statements.clear()
        body = _poll_without_cookie(owner, app_id, **params)
        assert body["events"] == [] and body["cursor"] == newest
        assert not [s for s in statements if "events" in s], statements
        # Only the session's user is loaded; the membership is remembered briefly.
        assert len(statements) <= 1, statements

    body = _poll(owner, app_id, after=older)
    assert [e["id"] for e in body["events"]] == [newest]


def test_without_a_known_newest_id_the_poll_asks_the_database(app, team, statements, monkeypatch):
    app_id, owner = team["app_id"], team["owner"]
    [only] = stored_events(app, app_id, [{}])
    statements.clear()
    assert _poll(owner, app_id, status="invalid", after=only)["events"] == []
    assert [s for s in statements if "FROM events" in s]
    statements.clear()
    assert _poll(owner, app_id, after=only)["events"] == []
    assert [s for s in statements if "FROM events" in s]
    # That unfiltered answer seeded the newest id: the next poll needs no query.
    statements.clear()
    assert _poll(owner, app_id, after=only)["events"] == []
    assert not [s for s in statements if "FROM events" in s]

    later = stored_events(app, app_id, [{}])  # stored without raising the newest id
    assert _poll(owner, app_id, after=only)["events"] == []  # within the key's expiry
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    monkeypatch.setitem(app.extensions, "newest_events_reader", dead)
    assert [e["id"] for e in _poll(owner, app_id, after=only)["events"]] == later


def test_a_stranger_polling_with_a_cursor_gets_404(app, team):
    app_id = team["app_id"]
    [only] = stored_events(app, app_id, [{}])
    _remember(app, app_id, only)
    answer = team["stranger"].get(f"/api/apps/{app_id}/events?after={only}")
    assert answer.status_code == 404
    assert team["stranger"].get(f"/api/apps/{uuid.uuid4()}/events?after={only}").status_code == 404
