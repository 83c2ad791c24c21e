"""`flask events set-aside`, `requeue-unreadable` and `discard-set-aside` on a Redis broker.

A parked batch (as a storage task parks it) and an unreadable message (as the transport
sets it aside) are shown with their counts, errors and previews; the unreadable message
goes back to its queue; parked batches are discarded only with --yes.
"""

from __future__ import annotations

import json

import pytest
import redis

from app.worker.dead_letter import park
from tests.faults.scenario import scenario_app
from tests.support.factories import make_record


@pytest.fixture
def broker_app(app, private_redis):
    """An app on a broker of the test's own (no session worker consumes it)."""
    with scenario_app(app, private_redis.url, private_redis.url_for(1)) as built:
        yield built


def run(flask_app, *args: str) -> tuple[int, dict]:
    outcome = flask_app.test_cli_runner().invoke(args=["events", *args, "--json"])
    return outcome.exit_code, json.loads(outcome.output)


def test_set_aside_shown_requeued_and_discarded(broker_app, private_redis):
    broker = redis.Redis.from_url(private_redis.url)
    records = [make_record("00000000-0000-0000-0000-000000000001") for _ in range(3)]
    park(broker_app.extensions["celery"], records, "process_event_batch", RuntimeError("disk"))
    broker.lpush("lvd.unreadable:default", b"not a kombu envelope")

    code, shown = run(broker_app, "set-aside")
    assert code == 0
    assert shown["dead_letter"]["batches"] == 1
    assert shown["dead_letter"]["events"] == 3
    assert shown["dead_letter"]["errors"] == {"RuntimeError: disk": 1}
    assert shown["dead_letter"]["oldest_failed_at"]
    assert shown["unreadable"]["default"] == {
        "messages": 1,
        "previews": ["not a kombu envelope"],
    }
    assert shown["unreadable"]["emails"]["messages"] == 0

    assert run(broker_app, "requeue-unreadable", "default") == (
        0,
        {"queue": "default", "requeued": 1},
    )
    assert broker.lrange("default", 0, -1) == [b"not a kombu envelope"]
    assert broker.llen("lvd.unreadable:default") == 0

    code, refused = run(broker_app, "discard-set-aside", "--dead-letter")
    assert code == 1 and "--yes" in refused["error"]
    code, refused = run(broker_app, "discard-set-aside", "--dead-letter", "--unreadable", "default")
    assert code == 1 and "exactly one" in refused["error"]
    code, refused = run(broker_app, "requeue-unreadable", "nowhere")
    assert code == 1 and "unknown queue" in refused["error"]
    assert broker.llen("dead_letter") == 1

    assert run(broker_app, "discard-set-aside", "--dead-letter", "--yes") == (
        0,
        {"list": "dead_letter", "discarded": 1},
    )
    assert broker.llen("dead_letter") == 0
