"""What every fault scenario does: post events with client eventIds on a broker of its
own, then check that every event answered 202 is stored exactly once and that the
per-minute counters equal the rows."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field

import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.extensions import db
from tests.support.environment import TEST_DATABASE_URL
from tests.support.factories import app_with


@dataclass
class Accepted:
    """The events a scenario was answered 202 for: client eventId -> status."""

    statuses: dict[str, str] = field(default_factory=dict)
    messages: int = 0

    def by_status(self) -> dict[str, int]:
        return dict(Counter(self.statuses.values()))


@contextlib.contextmanager
def scenario_app(session_app, broker_url: str, results_url: str):
    """An app publishing to a broker database no session worker consumes (emptied first)."""
    for url in {broker_url, results_url}:
        redis.Redis.from_url(url).flushdb()
    with app_with(
        session_app, {"CELERY": {"broker_url": broker_url, "result_backend": results_url}}
    ) as built:
        yield built


def make_event(prefix: str, i: int) -> dict:
    """A third valid, a third invalid, a third unplanned, each with a client eventId."""
    event_id = f"{prefix}-{i}"
    if i % 3 == 0:
        return {"eventName": "user_login", "userId": i, "eventId": event_id}
    if i % 3 == 1:
        return {"eventName": "user_login", "userId": "nope", "eventId": event_id}
    return {"eventName": "app_open", "eventId": event_id}


def post_events(
    client, tracked: dict, prefix: str, batches: int, batch_size: int, singles: int
) -> Accepted:
    """Post batches interleaved with single events; return what was answered 202."""
    headers = {"X-API-Key": tracked["key"]}
    single_url, batch_url = f"/api/logs/{tracked['id']}", f"/api/logs/{tracked['id']}/batch"
    events = [make_event(prefix, i) for i in range(batches * batch_size + singles)]
    batched, lone = events[: batches * batch_size], events[batches * batch_size :]
    per_round = -(-singles // max(batches, 1))
    accepted = Accepted()
    for round_ in range(max(batches, 1)):
        chunk = batched[round_ * batch_size : (round_ + 1) * batch_size]
        if chunk:
            answer = client.post(batch_url, json={"events": chunk}, headers=headers)
            assert answer.status_code == 202, answer.get_json()
            body = answer.get_json()
            assert body["task_id"], body
            accepted.messages += 1
            for event, result in zip(chunk, body["results"], strict=True):
                accepted.statuses[event["eventId"]] = result["status"]
        for event in lone[round_ * per_round : (round_ + 1) * per_round]:
            answer = client.post(single_url, json=event, headers=headers)
            assert answer.status_code == 202, answer.get_json()
            assert answer.get_json()["task_id"], answer.get_json()
            accepted.messages += 1
            accepted.statuses[event["eventId"]] = answer.get_json()["status"]
    return accepted


def row_count(flask_app, app_id: str) -> int:
    with flask_app.app_context():
        count = db.session.scalar(
            text("SELECT count(*) FROM events WHERE app_id = :app"), {"app": uuid.UUID(app_id)}
        )
        db.session.rollback()
    return count


def stored_state(flask_app, app_id: str) -> dict:
    """Rows (eventId -> status), duplicated eventIds and counters of one app."""
    params = {"app": uuid.UUID(app_id)}
    with flask_app.app_context():
        session = db.session
        rows = session.execute(
            text("SELECT client_event_id, status FROM events WHERE app_id = :app"), params
        ).all()
        counters = session.execute(
            text("SELECT status, sum(count) FROM event_counts WHERE app_id = :app GROUP BY status"),
            params,
        ).all()
        session.rollback()
    return {
        "statuses": dict(rows),
        "duplicates": sorted(i for i, n in Counter(r[0] for r in rows).items() if n > 1),
        "rows_by_status": dict(Counter(status for _id, status in rows)),
        "counters_by_status": {status: int(n) for status, n in counters},
    }


def assert_stored_exactly_once(flask_app, app_id: str, accepted: Accepted) -> None:
    """Every accepted event is stored once, nothing else is, and counters equal the rows."""
    state = stored_state(flask_app, app_id)
    assert state["duplicates"] == []
    assert state["statuses"] == accepted.statuses
    assert state["rows_by_status"] == accepted.by_status()
    assert state["counters_by_status"] == state["rows_by_status"]


def replay_failed(flask_app) -> dict:
    """Run `flask events replay-failed --json`, the documented recovery for parked events."""
    outcome = flask_app.test_cli_runner().invoke(args=["events", "replay-failed", "--json"])
    assert outcome.exit_code == 0, outcome.output
    return json.loads(outcome.output)


def broker_is_empty(broker: redis.Redis) -> bool:
    """Nothing queued, nothing unacknowledged, nothing on a consumer's receiving list."""
    return (
        broker.llen("default") == 0
        and broker.hlen("unacked") == 0
        and not list(broker.scan_iter(match="lvd.receiving:*"))
    )


def database_name() -> str:
    return make_url(TEST_DATABASE_URL).database
