"""Schema inference and impact read stored payloads under a byte budget: with payloads of
32 KB, no more than the budget's worth of payload text is read, and the answer says how
many examples it used."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from app.store import plan
from app.store.events import store_events
from tests.support.factories import make_record

PAYLOAD_TEXT_BYTES = 32 * 1024
BUDGET = 1024 * 1024
STORED = 100


def _big_payload(index: int) -> dict:
    return {"eventName": "big", "userId": index, "blob": "x" * PAYLOAD_TEXT_BYTES}


def test_inference_and_impact_read_no_more_than_the_byte_budget(app, make_tracked_app):
    target = make_tracked_app()
    now = datetime.now(UTC).isoformat()
    records = [
        make_record(target["id"], event_name="big", payload=_big_payload(i), received_at=now)
        for i in range(STORED)
    ]
    with app.app_context():
        store_events(records)
        app_id = uuid.UUID(target["id"])
        one = len(orjson.dumps(_big_payload(10)))  # each payload's text: a little over 32 KB

        inferred = plan.infer(app_id, "big", sample=5000, byte_budget=BUDGET)
        assert inferred["payload_bytes_read"] <= BUDGET
        assert 0 < inferred["examples_read"] < STORED
        assert inferred["examples_read"] >= BUDGET // (one + 64)  # PostgreSQL adds spaces
        assert inferred["cut_by_byte_budget"] is True
        assert inferred["schema"]["properties"]["blob"] == {"type": "string"}

        replayed = plan.impact(
            app_id, "big", {"type": "object", "required": ["userId"]}, 5000, BUDGET
        )
        assert replayed["payload_bytes_read"] <= BUDGET
        assert replayed["replayed"] == replayed["examples_read"] == inferred["examples_read"]
        assert (replayed["would_pass"], replayed["would_fail"]) == (replayed["replayed"], 0)

        everything = plan.infer(app_id, "big", sample=5000)  # the default 16 MB budget
        assert everything["examples_read"] == STORED
        assert everything["cut_by_byte_budget"] is False
        assert everything["payload_bytes_read"] <= plan.PAYLOAD_BYTE_BUDGET


def test_a_sample_smaller_than_the_stored_events_is_not_cut_by_the_budget(app, make_tracked_app):
    target = make_tracked_app()
    now = datetime.now(UTC).isoformat()
    with app.app_context():
        store_events(
            [
                make_record(
                    target["id"], event_name="big", payload=_big_payload(i), received_at=now
                )
                for i in range(3)
            ]
        )
        inferred = plan.infer(uuid.UUID(target["id"]), "big", sample=2)
    assert (inferred["examples_read"], inferred["cut_by_byte_budget"]) == (2, False)
    assert inferred["payload_bytes_read"] > 2 * PAYLOAD_TEXT_BYTES
