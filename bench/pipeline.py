"""Phases with the worker pools: end to end (accepted -> stored) and draining a backlog."""

from __future__ import annotations

import time

from bench import wrk
from bench.context import BATCH_SIZE, Bench
from bench.rss import RssSampler, flatness_pct
from bench.stack import log

CONNECTIONS = 16
FILL_LIMIT_SECONDS = 3600  # filling the backlog stops on its count; this only bounds it


def _all_stored(bench: Bench, expected: int) -> bool:
    """At least `expected` events stored and nothing left in the storage queue."""
    return (
        bench.db.counted_events() >= expected
        and bench.broker.queued(bench.storage_queue) == 0
        and bench.broker.unacked() == 0
    )


def _wait_all_stored(bench: Bench, expected: int, timeout: float) -> tuple[bool, float]:
    started = time.monotonic()
    while not _all_stored(bench, expected):
        if time.monotonic() - started > timeout:
            return False, time.monotonic() - started
        time.sleep(0.2)
    return True, time.monotonic() - started


def _storage_rss(bench: Bench) -> RssSampler:
    pool = bench.pools.storage
    return RssSampler(lambda: bench.pools.children(pool), progress=bench.db.counted_events)


def end_to_end(bench: Bench, mode: str) -> dict:
    """Load for --duration with every pool running; count rows stored during the window."""
    log(f"e2e-{mode}: {bench.options.duration:g}s of {mode} load with the worker pools running")
    load = bench.load(mode)
    bench.reset_events()
    bench.pools.start_all()
    with _storage_rss(bench) as rss:
        before = bench.db.stored_events()
        started = time.monotonic()
        result = wrk.run(load, CONNECTIONS, bench.options.duration, log_path=bench.wrk_log())
        window = time.monotonic() - started
        after = bench.db.stored_events()
        queued_at_end = bench.broker.queued(bench.storage_queue)
        log(
            f"  accepted {result.accepted:,} events ({result.accepted_per_s:,.0f}/s), "
            f"stored {after - before:,} in the window; waiting for the rest"
        )
        finished, catch_up = _wait_all_stored(
            bench, before + result.accepted, bench.options.catch_up_timeout
        )
    stored_total = bench.db.stored_events() - before
    if not finished:
        log(f"  not all stored after {catch_up:.0f}s: {stored_total:,} of {result.accepted:,}")
    return {
        "stored_events_per_s": (after - before) / window,
        "accepted_events_per_s": result.accepted_per_s,
        "requests_per_s": result.rps,
        "p99_ms_c16": result.latency_ms["p99"],
        "errors": result.errors,
        "unstored_at_end": max(0, result.accepted - (after - before)),
        "catch_up_s": catch_up if finished else None,
        "storage_rss_peak_mb": rss.peak_mb(),
        "detail": {
            "window_s": round(window, 2),
            "accepted": result.accepted,
            "stored_in_window": after - before,
            "stored_total": stored_total,
            "queued_messages_at_end": queued_at_end,
            "all_stored": finished,
        },
    }


def e2e_batch(bench: Bench) -> dict:
    return end_to_end(bench, "batch")


def e2e_single(bench: Bench) -> dict:
    return end_to_end(bench, "single")


class _FillWatch:
    """When to stop filling: the queue stopped growing for a few seconds. Either wrk has
    sent the backlog's number of requests (it then idles until stopped), or the app
    refuses the batches or died; the caller tells them apart by what wrk got accepted.

    Messages are counted, not batches: concurrent batches may share one message."""

    def __init__(self, bench: Bench, quiet_seconds: float = 3) -> None:
        self.bench = bench
        self.quiet_seconds = quiet_seconds
        self.last = -1
        self.grew_at = time.monotonic()

    def __call__(self) -> bool:
        queued = self.bench.broker.queued(self.bench.storage_queue)
        if queued != self.last:
            self.last, self.grew_at = queued, time.monotonic()
        quiet = time.monotonic() - self.grew_at > self.quiet_seconds
        return quiet or not self.bench.processes.alive("web")


def _fill_backlog(bench: Bench) -> tuple[wrk.WrkResult, int]:
    """Post batches until the backlog is queued; return wrk's result and the number of
    events accepted (a lower bound: requests in flight when wrk stops still land, and
    draining also waits for an empty queue)."""
    batches = bench.batches_for(bench.options.backlog)
    log(f"  filling a backlog of {batches * BATCH_SIZE:,} events ({batches:,} batches) over HTTP")
    watch = _FillWatch(bench)
    result = wrk.run(
        bench.load("batch"),
        CONNECTIONS,
        FILL_LIMIT_SECONDS,
        max_requests=batches,
        stop_when=watch,
        log_path=bench.wrk_log(),
    )
    if result.status_202 < batches or not bench.processes.alive("web"):
        raise RuntimeError(
            f"the backlog stopped growing at {watch.last:,} messages: {result}\n"
            + bench.processes.output("web")
        )
    queued = bench.settled_queue()
    log(f"  backlog: {result.accepted:,} events in {queued:,} messages ({result.errors} error(s))")
    if result.non_202 or result.accepted != result.status_202 * BATCH_SIZE:
        raise RuntimeError(f"some batches were not fully accepted while filling: {result}")
    return result, result.accepted


def drain(bench: Bench) -> dict:
    """Fill a backlog with the storage pool stopped, then time the pool storing it all."""
    pool = bench.pools.storage
    log(f"drain: {bench.options.backlog:,} events, then start the {pool} pool")
    bench.pools.stop(pool)
    bench.reset_events()
    fill, expected = _fill_backlog(bench)
    first_row: tuple[float, int] | None = None
    with _storage_rss(bench) as rss:
        started = time.monotonic()
        bench.pools.start(pool, wait=False)
        deadline = started + bench.options.drain_timeout
        while True:
            stored = bench.db.counted_events()
            now = time.monotonic()
            if stored and first_row is None:
                first_row = (now, stored)
            if _all_stored(bench, expected):
                break
            if now > deadline:
                break
            time.sleep(0.2)
        finished_at = time.monotonic()
        rss.sample()
    backlog = bench.db.stored_events()
    finished = backlog >= expected
    elapsed = finished_at - started
    log(f"  stored {backlog:,} events in {elapsed:.1f}s")
    after_first = None
    if first_row is not None and finished_at > first_row[0]:
        after_first = (backlog - first_row[1]) / (finished_at - first_row[0])
    flat = flatness_pct(rss.samples, backlog)
    return {
        "events_per_s": backlog / elapsed if finished else None,
        "events_per_s_after_first_row": after_first if finished else None,
        "worker_startup_s": first_row[0] - started if first_row else None,
        "backlog_events": backlog,
        "fill_events_per_s": fill.accepted_per_s,
        "storage_rss_peak_mb": rss.peak_mb(),
        "storage_rss_change_pct": flat["change_pct"] if flat else None,
        "detail": {
            "accepted_while_filling": fill.accepted,
            "queued_events": expected,
            "drain_s": round(elapsed, 2),
            "all_stored": finished,
            "rss_flatness": flat,
            "counters_match_rows": bench.db.counted_events() == backlog,
        },
    }
