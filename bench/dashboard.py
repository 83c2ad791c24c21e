"""Dashboard phases: ingest while live pages poll, and the read endpoints at 1,000,000 events.

- viewers: single-event ingest (wrk, 16 connections) alone, and while VIEWERS threads
  poll the live stream the way an open page does (one short request a second with the
  cursor), in alternating windows. The app holds VIEWER_EVENTS stored events, so each
  page has a cursor as a real open page does; the storage pool is stopped, so every poll
  after the first finds nothing new (the idle poll). Reports the median of the per-round
  ratios, with pages over without (target >= 0.9).
- dashboard-reads: a million events (29 days) generated into the bench app with SQL and
  rolled up as the `batch_processing` pool does, then each JSON endpoint (stream, stream
  with a filter, detail, stats and errors of 1 h to 30 d) requested sequentially
  READ_REQUESTS times by a logged-in client; p50 and p95 in ms.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookies
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

import psycopg2
import requests

from bench.alternate import alternate
from bench.context import Bench
from bench.million import counters_sql, events_sql
from bench.phases import HIGH, _warm_up
from bench.settings import ROOT
from bench.stack import log
from bench.workload import LivePoll

# BENCH_VIEWERS=0 measures the phase's own noise: the same two runs without pages.
VIEWERS = int(os.environ.get("BENCH_VIEWERS", 20))
POLL_SECONDS = 1.0
MILLION = 1_000_000
ROLLUP_HOURS = 31 * 24  # the generated events span about 29 days
READ_REQUESTS = 200
VIEWER_EVENTS = 1000


def _viewer_cookie(bench: Bench) -> dict:
    return bench.module_json("bench.viewer_session", bench.app_id)


def _session(base: str, cookie: dict) -> requests.Session:
    session = requests.Session()
    session.cookies.set(cookie["name"], cookie["value"], domain="127.0.0.1", path="/")
    return session


class LivePages:
    """Threads that each poll /api/apps/<id>/events once a second, as a live page does.

    Pages poll at evenly spread moments of the second, as pages opened at different times
    do; started together, all 20 polled in the same few milliseconds.

    Each page keeps one HTTP/1.1 connection (http.client, as a browser keeps one) and, as a
    browser does, sends back the cookies answers set (a page that kept sending its first
    cookie would have the session rewritten on every poll). The pages stand for browsers
    on other machines, so their own CPU here is kept small (`requests` cost 2 ms of this
    machine's CPU per poll, http.client under 1 ms).
    """

    def __init__(self, base: str, app_id: str, cookie: dict, count: int) -> None:
        self.address = urllib.parse.urlsplit(base)
        self.path = f"/api/apps/{app_id}/events"
        self.cookie = cookie
        self.count = count
        self.stop_event = threading.Event()
        self.latencies_ms: list[float] = []
        self.failures = 0
        self.threads = [
            threading.Thread(target=self._poll, args=(number / count,), daemon=True)
            for number in range(count)
        ]

    def _poll(self, phase: float) -> None:
        """Poll once a second; pages opened at different moments poll at different ones."""
        connection = http.client.HTTPConnection(self.address.hostname, self.address.port, timeout=5)
        jar = {self.cookie["name"]: self.cookie["value"]}
        page = LivePoll()
        self.stop_event.wait(phase * POLL_SECONDS)
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                query = urllib.parse.urlencode(page.params())
                cookie = "; ".join(f"{name}={value}" for name, value in jar.items())
                connection.request("GET", f"{self.path}?{query}", headers={"Cookie": cookie})
                answer = connection.getresponse()
                body = json.loads(answer.read())
                _keep_cookies(jar, answer.headers.get_all("Set-Cookie") or [])
                if answer.status != 200:
                    self.failures += 1
                else:
                    page.answered(body)
            except (OSError, http.client.HTTPException, ValueError):
                self.failures += 1
                connection.close()  # reconnects on the next request
            elapsed = time.monotonic() - started
            self.latencies_ms.append(elapsed * 1000)
            self.stop_event.wait(max(0.0, POLL_SECONDS - elapsed))
        connection.close()

    def __enter__(self) -> LivePages:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=10)


def _keep_cookies(jar: dict[str, str], set_cookies: list[str]) -> None:
    """Store the cookies an answer sets, as a browser does (the next poll sends them)."""
    for header in set_cookies:
        for name, morsel in http.cookies.SimpleCookie(header).items():
            jar[name] = morsel.value


def viewers(bench: Bench) -> dict:
    """Single-event ingest alone and with VIEWERS live pages polling, in alternating windows.

    With no page at all, the middle of three consecutive 10 s windows of the same load
    measured 25 % and, in another run, 61 % below its neighbours on this kind of machine,
    so the phase alternates short windows (bench/alternate.py)
    and reports the median of the per-round ratios, not one figure against another taken
    a minute apart.
    """
    bench.pools.stop_all()
    rounds, seconds = (2, 3.0) if bench.options.quick else (6, 5.0)
    log(f"viewers: single-event ingest alone and with {VIEWERS} live pages, {rounds} rounds")
    web = bench.ensure_web()
    cookie = _viewer_cookie(bench)
    load = bench.load("single")
    latencies: list[float] = []
    failures = 0

    @contextlib.contextmanager
    def watched():
        nonlocal failures
        with LivePages(web.url, bench.app_id, cookie, VIEWERS) as pages:
            time.sleep(POLL_SECONDS + 0.2)  # every page has polled: the window sees steady polling
            yield load
        latencies.extend(pages.latencies_ms)
        failures += pages.failures

    try:
        _generate(bench, VIEWER_EVENTS)
        _warm_up(bench, load)
        outcome = alternate(
            bench,
            {"alone": lambda: contextlib.nullcontext(load), "with": watched},
            rounds,
            seconds,
            HIGH,
            between=bench.purge_queues,
        )
    finally:
        bench.reset_events()
    polls = sorted(latencies)
    return {
        "rps_alone": outcome.median_rps("alone"),
        "rps_with_viewers": outcome.median_rps("with"),
        "ratio": outcome.ratio(),
        "poll_p95_ms": _percentile(polls, 95),
        "poll_failures": failures,
        "errors": outcome.errors(),
        "detail": {
            "polls": len(polls),
            "viewers": VIEWERS,
            "rounds": rounds,
            "window_s": seconds,
            "ratios": outcome.ratios(),
            "rps": {name: outcome.rps(name) for name in outcome.names},
        },
    }


def dashboard_reads(bench: Bench) -> dict:
    """p50/p95 of the dashboard's JSON endpoints with 1,000,000 events in the app."""
    bench.pools.stop_all()
    bench.reset_events()
    log(f"dashboard-reads: generating {MILLION:,} events in one app with SQL")
    _generate(bench, MILLION)
    log("dashboard-reads: rolling the events up")
    subprocess.run(
        [sys.executable, "-m", "bench.rollup_all", bench.app_id, str(ROLLUP_HOURS)],
        cwd=ROOT,
        env=bench.env,
        check=True,
        capture_output=True,
    )
    web = bench.ensure_web()
    session = _session(web.url, _viewer_cookie(bench))
    base = f"{web.url}/api/apps/{bench.app_id}"
    newest = session.get(f"{base}/events", params={"limit": 1}, timeout=10).json()
    some_event = newest["events"][0]["id"]
    endpoints = {
        "stream": (f"{base}/events", {}),
        "stream_cursor": (f"{base}/events", {"after": some_event}),
        "stream_invalid": (f"{base}/events", {"status": "invalid"}),
        "stream_name": (f"{base}/events", {"event": "event_7"}),
        "detail": (f"{base}/events/{some_event}", {}),
        "stats_1h": (f"{base}/stats", {"range": "1h"}),
        "stats_24h": (f"{base}/stats", {"range": "24h"}),
        "stats_7d": (f"{base}/stats", {"range": "7d"}),
        "stats_30d": (f"{base}/stats", {"range": "30d"}),
        "errors_1h": (f"{base}/errors", {"range": "1h"}),
        "errors_24h": (f"{base}/errors", {"range": "24h"}),
        "errors_7d": (f"{base}/errors", {"range": "7d"}),
        "errors_30d": (f"{base}/errors", {"range": "30d"}),
    }
    metrics: dict = {}
    try:
        for name, (url, params) in endpoints.items():
            timings = []
            for _ in range(READ_REQUESTS):
                started = time.monotonic()
                answer = session.get(url, params=params, timeout=10)
                timings.append((time.monotonic() - started) * 1000)
                if answer.status_code != 200:
                    raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:200]}")
            timings.sort()
            metrics[f"{name}_p50_ms"] = _percentile(timings, 50)
            metrics[f"{name}_p95_ms"] = _percentile(timings, 95)
            p50, p95 = metrics[f"{name}_p50_ms"], metrics[f"{name}_p95_ms"]
            log(f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    finally:
        bench.reset_events()
    return {**metrics, "detail": {"events": MILLION, "requests_each": READ_REQUESTS}}


def _generate(bench: Bench, rows: int) -> None:
    connection = psycopg2.connect(bench.settings.database_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(events_sql("events", bench.app_id, bench.app_id, rows))
            cursor.execute(counters_sql("events", "event_counts"))
            cursor.execute("ANALYZE events")
            cursor.execute("ANALYZE event_counts")
    finally:
        connection.close()


def _percentile(sorted_values: list[float], percent: int) -> float | None:
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[percent - 1]
