"""The HTTP phases (ceiling, single, batch) and the in-process validation phase.

Each phase returns {metric: number}; a key "detail" may hold extra, non-numeric facts.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import timeit
from datetime import UTC, datetime

from bench import wrk
from bench.alternate import alternate
from bench.context import Bench
from bench.rss import RssSampler
from bench.stack import WebServer, log
from bench.wrk import Load, WrkResult

HIGH, LOW = 16, 4  # connections: throughput, and latency under light load


def _measure(bench: Bench, load: Load, connections: int) -> WrkResult:
    seconds = bench.options.http_seconds
    log(f"  wrk -c{connections} {seconds:g}s {load.mode} -> {load.url}")
    result = wrk.run(load, connections, seconds, log_path=bench.wrk_log())
    log(
        f"    {result.rps:,.0f} req/s, p99 {result.latency_ms['p99']:.1f} ms, "
        f"{result.errors} error(s)"
    )
    return result


def _warm_up(bench: Bench, load: Load) -> None:
    wrk.run(load, LOW, bench.options.warmup_seconds, log_path=bench.wrk_log())


def _throughput_and_latency(bench: Bench, load: Load) -> dict:
    _warm_up(bench, load)
    high = _measure(bench, load, HIGH)
    low = _measure(bench, load, LOW)
    return {
        "rps_c16": high.rps,
        "p50_ms_c16": high.latency_ms["p50"],
        "p99_ms_c16": high.latency_ms["p99"],
        "rps_c4": low.rps,
        "p50_ms_c4": low.latency_ms["p50"],
        "p99_ms_c4": low.latency_ms["p99"],
        "errors": high.errors + low.errors,
    }


def ceiling(bench: Bench) -> dict:
    """The do-nothing app, same gunicorn settings, same single-event script."""
    bench.stop_web()
    if bench.pools is not None:
        bench.pools.stop_all()
    log("ceiling: gunicorn bench.ceiling:app")
    server = WebServer(bench.processes, "ceiling", "bench.ceiling:app", bench.env).start()
    try:
        with RssSampler(server.workers) as rss:
            metrics = _throughput_and_latency(
                bench, bench.load("single", url=f"{server.url}/api/logs/{bench.app_id}")
            )
        workers = len(server.workers())
    finally:
        server.stop()
    return {**metrics, "web_rss_mb": rss.peak_mb(), "detail": {"web_workers": workers}}


def single(bench: Bench) -> dict:
    """POST /api/logs/<app_id>, one event per request; no worker runs, the queue grows."""
    bench.pools.stop_all()
    log("single: one event per request")
    load = bench.load("single")
    try:
        return _throughput_and_latency(bench, load)
    finally:
        bench.reset_events()


def batch(bench: Bench) -> dict:
    """POST /api/logs/<app_id>/batch with 100 events per request; no worker runs."""
    bench.pools.stop_all()
    log("batch: 100 events per request")
    load = bench.load("batch")
    try:
        _warm_up(bench, load)
        result = _measure(bench, load, HIGH)
    finally:
        bench.reset_events()
    return {
        "requests_per_s": result.rps,
        "events_per_s": result.accepted_per_s,
        "p50_ms_c16": result.latency_ms["p50"],
        "p99_ms_c16": result.latency_ms["p99"],
        "errors": result.errors,
    }


def metrics_cost(bench: Bench) -> dict:
    """Single-event ingest with the Prometheus metrics and without (METRICS_ENABLED=false).

    Throughput: two copies of the app run side by side; wrk loads one, then the other, in
    alternating windows (bench/alternate.py); both medians and the median per-round ratio.
    On a small virtual machine those windows differ by a third among themselves, so the
    target is on CPU per request, measured in one process without wrk, with and without,
    in alternating blocks (bench/request_cost.py): without / with >= 0.95.
    """
    bench.pools.stop_all()
    bench.stop_web()
    rounds, seconds = (2, 3.0) if bench.options.quick else (6, 5.0)
    log(f"metrics-cost: single events, {rounds} rounds of {seconds:g}s with and without")
    servers = {
        "without": WebServer(
            bench.processes, "web-no-metrics", "run:app", {**bench.env, "METRICS_ENABLED": "false"}
        ),
        "with": WebServer(bench.processes, "web-metrics", "run:app", bench.env),
    }
    loads = {}
    try:
        for name, server in servers.items():
            server.start()
            loads[name] = bench.load("single", url=f"{server.url}/api/logs/{bench.app_id}")
            _warm_up(bench, loads[name])
        outcome = alternate(
            bench,
            {name: (lambda ld=load: contextlib.nullcontext(ld)) for name, load in loads.items()},
            rounds,
            seconds,
            HIGH,
            between=bench.purge_queues,
        )
    finally:
        for server in servers.values():
            server.stop()
        bench.reset_events()
    log("metrics-cost: CPU per request in one process (bench/request_cost.py)")
    cpu = bench.module_json("bench.request_cost", bench.app_id, bench.key)
    bench.reset_events()
    return {
        "rps_without": outcome.median_rps("without"),
        "rps_with": outcome.median_rps("with"),
        "rps_ratio": outcome.ratio(),
        "cpu_us_without": cpu["cpu_us_without"],
        "cpu_us_with": cpu["cpu_us_with"],
        "cpu_ratio": cpu["ratio"],
        "errors": outcome.errors(),
        "detail": {
            "rounds": rounds,
            "window_s": seconds,
            "rps_ratios": outcome.ratios(),
            "rps": {name: outcome.rps(name) for name in servers},
            "cpu_ratios": cpu["ratios"],
            "cpu_requests": cpu["blocks"] * cpu["requests_per_block"],
        },
    }


def validation(bench: Bench) -> dict:
    """compile_validator once, then time validate() on a valid and an invalid event."""
    from app.ingest.records import build_record
    from app.ingest.registry import AppEntry, PlannedEvent
    from app.validation import compile_validator, validate
    from bench import workload

    log("validation: in-process timing")
    rng = random.Random(11)
    validator = compile_validator(workload.SCHEMA)
    valid = {"eventId": "bench-valid-1", **workload.valid_event(rng)}
    invalid = {"eventId": "bench-invalid-1", **workload.invalid_event(rng)}
    if validate(validator, valid):
        raise AssertionError(f"the valid event is invalid: {validate(validator, valid)}")
    errors = validate(validator, invalid)
    entry = AppEntry(
        id="00000000-0000-0000-0000-000000000000",
        name="bench",
        key_digests=frozenset(),
        rate_limit=None,
        plan={workload.EVENT_NAME: PlannedEvent(1, validator)},
    )
    number, repeat = (200, 7) if bench.options.quick else (2000, 25)
    now = datetime.now(UTC)

    fastest: dict[str, float] = {}

    def per_event_us(name: str, call) -> float:
        times = [t / number * 1e6 for t in timeit.repeat(call, number=number, repeat=repeat)]
        fastest[name] = round(min(times), 2)
        return statistics.median(times)

    return {
        "valid_us": per_event_us("valid_us", lambda: validate(validator, valid)),
        "invalid_us": per_event_us("invalid_us", lambda: validate(validator, invalid)),
        "invalid_errors": len(errors),
        "record_us": per_event_us("record_us", lambda: build_record(entry, valid, now)),
        "detail": {
            "errors": errors,
            "expected_errors": workload.INVALID_ERRORS,
            "fastest_repeat_us": fastest,
            "repetitions": {"number": number, "repeat": repeat},
        },
    }
