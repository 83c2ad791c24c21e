"""`python -m bench.segment_batch`: Segment's /v1/batch against our /api/logs/<id>/batch.

The same 100 events per request go to both routes: as our events ({"events": [...]}) to
an app whose `user_login` schema is bench.workload's, and as the Segment `track` calls a
Segment SDK would send for them (eventName, eventId, userId and timestamp as `event`,
`messageId`, `userId` and `timestamp`, the rest as `properties`; the batch's sentAt and
context) to an app whose schema asks the same of them; 80 % valid, 10 % invalid,
10 % unplanned in both, and about the same bytes. No worker runs: the broker's queue is emptied
between windows. Two figures, each a median of per-round ratios Segment / ours:

- requests per second through gunicorn (2 workers), from client processes posting in
  alternating windows (A B B A ...);
- CPU per request in this process, through the app's WSGI callable, in alternating
  blocks (steadier on a shared machine than throughput).

Run with the environment of a migrated database and a broker (DATABASE_URL,
CELERY_BROKER_URL, CELERY_RESULT_BACKEND, REDIS_URL); prints one JSON line.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

import orjson
import redis
import requests

from bench import workload

BATCH = 100
BODIES = 20


def _our_batches(rng: random.Random) -> list[bytes]:
    bodies = []
    for _ in range(BODIES):
        events = []
        for _ in range(BATCH):
            _kind, event = workload.mixed_event(rng)
            events.append({**event, "eventId": str(uuid.uuid4())})
        bodies.append(orjson.dumps({"events": events}))
    return bodies


# Our field -> the Segment message's top-level field that carries it.
MOVED = {"eventName": "event", "eventId": "messageId", "userId": "userId", "timestamp": "timestamp"}


def segment_schema() -> dict:
    """bench.workload's schema, asked of a Segment track call of the same event."""
    inner = copy.deepcopy(workload.SCHEMA)
    top = {}
    for ours, theirs in MOVED.items():
        top[theirs] = inner["properties"].pop(ours)
        inner["required"].remove(ours)
    return {
        "type": "object",
        "required": [*top, "properties"],
        "properties": {**top, "properties": inner},
    }


def _segment_batches(ours: list[bytes]) -> list[bytes]:
    """The same events as Segment track calls."""
    sent_at = datetime.now(UTC).isoformat()
    bodies = []
    for body in ours:
        batch = []
        for event in orjson.loads(body)["events"]:
            message = {"type": "track"}
            message.update(
                {theirs: event.pop(ours) for ours, theirs in MOVED.items() if ours in event}
            )
            message["properties"] = event
            batch.append(message)
        document = {
            "batch": batch,
            "sentAt": sent_at,
            "context": {"library": {"name": "bench", "version": "1"}},
        }
        bodies.append(orjson.dumps(document))
    return bodies


def _make_apps() -> tuple[dict, dict, object]:
    from app import create_app
    from app.models import App
    from app.store import catalog

    flask_app = create_app()
    made = {}
    with flask_app.app_context():
        for side, schema in (("ours", workload.SCHEMA), ("segment", segment_schema())):
            created, key = catalog.create_app(f"bench-{side}-{uuid.uuid4().hex[:8]}")
            catalog.set_schema(App.lookup(str(created.id)), workload.EVENT_NAME, schema)
            made[side] = {"id": str(created.id), "key": key}
    return made["ours"], made["segment"], flask_app


def _post_loop(url: str, headers: dict, bodies: list[bytes], expect: int, until: float, out):
    session = requests.Session()
    done = failed = 0
    index = 0
    while time.monotonic() < until:
        answer = session.post(url, data=bodies[index % len(bodies)], headers=headers, timeout=30)
        index += 1
        if answer.status_code == expect:
            done += 1
        else:
            failed += 1
    out.put((done, failed))


def _window(url, headers, bodies, expect, seconds, clients) -> tuple[float, int]:
    out = multiprocessing.Queue()
    until = time.monotonic() + seconds
    procs = [
        multiprocessing.Process(target=_post_loop, args=(url, headers, bodies, expect, until, out))
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(r[0] for r in results) / seconds, sum(r[1] for r in results)


def _through_gunicorn(url, sides, rounds, seconds, clients, broker) -> dict:
    rps: dict[str, list[float]] = {"ours": [], "segment": []}
    errors = 0
    for round_number in range(rounds):
        order = ["ours", "segment"] if round_number % 2 == 0 else ["segment", "ours"]
        for side in order:
            path, headers, bodies, expect = sides[side]
            rate, failed = _window(url + path, headers, bodies, expect, seconds, clients)
            rps[side].append(rate)
            errors += failed
            broker.delete("default")  # no worker runs: drop what was queued
            print(f"[segment-batch] round {round_number} {side}: {rate:.1f} req/s", file=sys.stderr)
    ratios = [s / o for s, o in zip(rps["segment"], rps["ours"], strict=True)]
    return {
        "rps_ours": statistics.median(rps["ours"]),
        "rps_segment": statistics.median(rps["segment"]),
        "rps_ratio": statistics.median(ratios),
        "rps_ratios": [round(r, 3) for r in ratios],
        "errors": errors,
    }


def _cpu_in_process(flask_app, sides, blocks, per_block, broker) -> dict:
    client = flask_app.test_client()
    cost: dict[str, list[float]] = {"ours": [], "segment": []}
    for block in range(blocks):
        order = ["ours", "segment"] if block % 2 == 0 else ["segment", "ours"]
        for side in order:
            path, headers, bodies, expect = sides[side]
            started = time.process_time()
            for index in range(per_block):
                answer = client.post(path, data=bodies[index % len(bodies)], headers=headers)
                assert answer.status_code == expect, answer.get_data()
            cost[side].append((time.process_time() - started) / per_block * 1e6)
        broker.delete("default")
    ratios = [o / s for s, o in zip(cost["segment"], cost["ours"], strict=True)]
    return {
        "cpu_us_ours": statistics.median(cost["ours"]),
        "cpu_us_segment": statistics.median(cost["segment"]),
        "cpu_ratio": statistics.median(ratios),  # ours / segment: above 1, Segment is cheaper
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--url", help="a running gunicorn on the same database and broker")
    options = parser.parse_args()
    ours, segment, flask_app = _make_apps()
    json_type = {"Content-Type": "application/json"}
    sides = {
        "ours": (
            f"/api/logs/{ours['id']}/batch",
            {**json_type, "X-API-Key": ours["key"]},
            _our_batches(random.Random(7)),
            202,
        ),
        "segment": ("/v1/batch", {**json_type, "X-API-Key": segment["key"]}, [], 200),
    }
    sides["segment"] = (*sides["segment"][:2], _segment_batches(sides["ours"][2]), 200)
    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    result = {"events_per_request": BATCH}
    result.update(_cpu_in_process(flask_app, sides, options.blocks, 20, broker))
    if options.url:
        result.update(
            _through_gunicorn(
                options.url, sides, options.rounds, options.seconds, options.clients, broker
            )
        )
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
