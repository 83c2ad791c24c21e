"""`python -m bench.request_cost APP_ID KEY`: CPU per ingest request with and without the
Prometheus metrics, in one process, through the real app and the real broker.

Throughput under wrk on a small virtual machine swings by a third from one window to the
next, far more than the metrics can cost, so the `metrics-cost` phase also measures the
cost where it arises: two copies of the app (METRICS_ENABLED true and false) built in
this process answer POST /api/logs/<app_id> through their WSGI callable, one request at a
time, in alternating blocks of 100 (drift within a pair is then small); each block's CPU
time (this process's, the metrics' flush thread included) per request. Building each
request's WSGI environ is inside the timed block on both sides, so the ratio errs a
little towards 1. Prints one JSON line: both medians and the per-block ratios.

Run with the stack's environment (the benchmark's `metrics-cost` phase does).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time

import orjson

BLOCKS = 100
REQUESTS = 100


def main(app_id: str, key: str, blocks: int = BLOCKS, requests: int = REQUESTS) -> None:
    # Prometheus' values are memory-mapped files, as under gunicorn.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lvd-request-cost-")
    from werkzeug.test import EnvironBuilder

    from app import create_app
    from bench import workload

    apps = {
        "with": create_app({"METRICS_ENABLED": True}),
        "without": create_app({"METRICS_ENABLED": False}),
    }
    rng = random.Random(3)
    bodies = [orjson.dumps(workload.mixed_event(rng)[1]) for _ in range(200)]
    path = f"/api/logs/{app_id}"

    def block(name: str) -> float:
        wsgi = apps[name].wsgi_app
        statuses = []
        started = time.process_time()
        for number in range(requests):
            environ = EnvironBuilder(
                path=path,
                method="POST",
                data=bodies[number % len(bodies)],
                headers={"X-API-Key": key, "Content-Type": "application/json"},
            ).get_environ()
            body = wsgi(environ, lambda status, _headers: statuses.append(status))
            b"".join(body)
        spent = time.process_time() - started
        refused = [status for status in statuses if not status.startswith("202")]
        if refused:
            raise SystemExit(f"{name}: {len(refused)} request(s) not accepted: {refused[:3]}")
        return spent / requests * 1e6

    block("with"), block("without")  # warm both: caches, connections, the flush thread
    cost: dict[str, list[float]] = {"with": [], "without": []}
    for number in range(blocks):
        for name in ("with", "without") if number % 2 == 0 else ("without", "with"):
            cost[name].append(block(name))
    ratios = [a / b for a, b in zip(cost["without"], cost["with"], strict=True)]
    print(
        orjson.dumps(
            {
                "cpu_us_with": statistics.median(cost["with"]),
                "cpu_us_without": statistics.median(cost["without"]),
                "ratio": statistics.median(ratios),
                "ratios": ratios,
                "blocks": blocks,
                "requests_per_block": requests,
            }
        ).decode()
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
