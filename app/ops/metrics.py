"""Prometheus metrics of the web tier: request hooks, ingest figures, the broker at scrape time.

Counters live in prometheus_client's default registry. Under gunicorn each worker process
writes them to memory-mapped files in PROMETHEUS_MULTIPROC_DIR (set by gunicorn.conf.py),
and `/metrics` sums every process's files, so any worker can answer the scrape. The
broker's figures (queue depths, unacknowledged messages, dead-letter and set-aside
counts) are read at scrape time with `ops.queues.queue_status`, the same reading /health
makes, so they are the same whichever process answers.

`/metrics` answers only with `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN
is set, and only to loopback clients, when METRICS_ALLOW_LOOPBACK allows them, when it is
not (`ops/access.py`). With METRICS_ENABLED=false nothing
is counted and `/metrics` answers 404: the benchmark compares ingest with and without.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from app.ops.access import operator_request
from app.ops.consumers import consumers_last_seen, start_command, unconsumed_queues
from app.ops.queues import queue_status
from celery_config import WORKER_POOLS

log = logging.getLogger(__name__)
disable_created_metrics()  # no *_created series: they double every counter for nothing

REQUESTS = Counter(
    "lvd_http_requests_total", "HTTP requests answered, by route and status", ["route", "status"]
)
EVENTS_ACCEPTED = Counter(
    "lvd_events_accepted_total", "Events answered 202, by validation status", ["status"]
)
PUBLISH_SECONDS = Histogram(
    "lvd_publish_duration_seconds",
    "Time to hand one message of records to the broker (group commit: one per flush)",
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5, 2),
)
PUBLISH_GROUP_EVENTS = Histogram(
    "lvd_publish_group_events",
    "Events per published message: the group commit's size",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 1000),
)
DEGRADED_EVENTS = Counter(
    "lvd_degraded_events_total",
    "Events the web tier stored directly because the broker could not take them",
)
RATE_LIMITED = Counter(
    "lvd_ingest_rate_limited_total", "Ingest requests refused with 429 (rate limit)"
)

UNMATCHED_ROUTE = "<unmatched>"  # 404s: one label, not one per scanned path
FLUSH_SECONDS = 1.0


class Tallies:
    """Counts and observations kept in this process, added to Prometheus once a second.

    In multiprocess mode each increment of a Prometheus value writes a memory-mapped file
    under a lock, and an observation of a histogram measured 12 µs: as much as a tenth of
    an ingest request's own cost. Here a count is a dict entry and an observation a bucket
    index under a lock (about a microsecond); a daemon thread (one per process, started
    after fork) adds the sums, so a scrape lags by at most a second and costs a few file
    writes per second whatever the traffic. The scraping process adds its own first.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._counts: dict[tuple, float] = {}
        self._observed: dict[Histogram, _Buckets] = {}
        self._running = False
        os.register_at_fork(after_in_child=self._forked)
        atexit.register(self.flush)

    def add(self, counter: Counter, labels: tuple[str, ...] = (), amount: float = 1) -> None:
        """Count `amount` on `counter` (with these label values)."""
        key = (counter, labels)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + amount
        if not self._running:
            self._start()

    def observe(self, histogram: Histogram, value: float) -> None:
        """Observe `value` on `histogram` (one without labels) at the next flush."""
        with self._lock:
            buckets = self._observed.get(histogram)
            if buckets is None:
                buckets = self._observed[histogram] = _Buckets(histogram)
            buckets.add(value)
        if not self._running:
            self._start()

    def flush(self) -> None:
        """Add what was counted and observed since the last flush to Prometheus."""
        with self._lock:
            counts, self._counts = self._counts, {}
            observed, self._observed = self._observed, {}
        for (counter, labels), amount in counts.items():
            (counter.labels(*labels) if labels else counter).inc(amount)
        for buckets in observed.values():
            buckets.write()

    def _start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._flush_forever, name="metrics-flush", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.flush()
            except Exception:  # counting must never take a worker down
                log.exception("metrics: flush failed")

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._counts = {}
        self._observed = {}
        self._running = False  # the parent's thread did not survive the fork


class _Buckets:
    """Observations of one histogram, counted per bucket, written as one sum per bucket.

    prometheus_client has no public call that adds many observations at once, so this
    writes the histogram's own values (`_upper_bounds`, `_buckets`, `_sum`, stable since
    0.4); `tests/ops/test_metrics.py` checks that the result equals observing one by one.
    """

    __slots__ = ("histogram", "bounds", "counts", "total")

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.bounds = tuple(histogram._upper_bounds)  # ends with +Inf
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def add(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value
        self.total += value

    def write(self) -> None:
        for index, count in enumerate(self.counts):
            if count:
                self.histogram._buckets[index].inc(count)
        self.histogram._sum.inc(self.total)


tallies = Tallies(FLUSH_SECONDS)


class IngestRecorder:
    """What the ingest path counts: accepted events, publishes, the degraded path."""

    def accepted(self, records: list[dict]) -> None:
        """Count accepted events by validation status."""
        if len(records) == 1:
            tallies.add(EVENTS_ACCEPTED, (records[0]["status"],))
            return
        for status, count in Tally(record["status"] for record in records).items():
            tallies.add(EVENTS_ACCEPTED, (status,), count)

    def published(self, seconds: float, events: int) -> None:
        """Record one publish: its latency and how many events the message carried.

        Once per message, not per request: under load, group commit shares it among requests.
        """
        tallies.observe(PUBLISH_SECONDS, seconds)
        tallies.observe(PUBLISH_GROUP_EVENTS, events)

    def degraded(self, events: int) -> None:
        """Count events stored by the degraded path."""
        tallies.add(DEGRADED_EVENTS, (), events)


class SilentRecorder(IngestRecorder):
    """METRICS_ENABLED=false: the same calls, counting nothing."""

    def accepted(self, records: list[dict]) -> None:
        pass

    def published(self, seconds: float, events: int) -> None:
        pass

    def degraded(self, events: int) -> None:
        pass


def recorder() -> IngestRecorder:
    """The app's ingest recorder (`current_app` must be set)."""
    return current_app.extensions["metrics"]


class Metrics:
    """Flask extension: the request hook and the protected /metrics endpoint."""

    def init_app(self, app: Flask) -> None:
        enabled = app.config["METRICS_ENABLED"]
        app.extensions["metrics"] = IngestRecorder() if enabled else SilentRecorder()
        if enabled:
            app.after_request(_count_request)
        app.register_blueprint(bp)


def _count_request(response: Response) -> Response:
    current = request._get_current_object()  # one proxy lookup instead of three
    rule = current.url_rule
    status = response.status_code
    tallies.add(REQUESTS, (rule.rule if rule is not None else UNMATCHED_ROUTE, str(status)))
    if status == 429 and current.blueprint in ("api", "segment"):
        tallies.add(RATE_LIMITED)
    return response


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    """Expose every process's counters and the broker's queues in Prometheus' text format."""
    if not current_app.config["METRICS_ENABLED"]:
        return Response(
            "metrics are turned off (METRICS_ENABLED=false)\n", status=404, mimetype="text/plain"
        )
    refusal = _refusal()
    if refusal is not None:
        return refusal
    tallies.flush()
    sources = [_process_counters(), BrokerCollector(current_app.extensions["celery"])]
    # content_type, not mimetype: CONTENT_TYPE_LATEST already names its charset.
    return Response(generate_latest(_Combined(sources)), content_type=CONTENT_TYPE_LATEST)


def _refusal() -> Response | None:
    if operator_request():
        return None
    if current_app.config.get("METRICS_TOKEN"):
        return Response(
            "metrics need Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(
        "metrics need METRICS_TOKEN (or METRICS_ALLOW_LOOPBACK=1 for loopback clients)\n",
        status=403,
        mimetype="text/plain",
    )


def _process_counters():
    """All processes' counters under gunicorn (multiprocess files), else this process's."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    return registry


class _Combined:
    """Several collectors (or registries) exposed as one."""

    def __init__(self, sources: list) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


class BrokerCollector:
    """Queue depths, unacknowledged messages and parked records, read at scrape time."""

    def __init__(self, celery_app, timeout: float = 1.0) -> None:
        self.celery_app = celery_app
        self.timeout = timeout

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("lvd_broker_up", "1 when the broker answered this scrape")
        try:
            status = queue_status(self.celery_app, self.timeout)
        except Exception as exc:  # a scrape must still answer when the broker is down
            log.warning("metrics: broker unreadable: %r", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "lvd_queue_depth", "Messages waiting in each queue", labels=["queue"]
        )
        for queue, count in status.depths.items():
            if count is not None:
                depth.add_metric([queue], count)
        yield depth
        yield from _optional_gauge(
            "lvd_queue_unacked",
            "Messages delivered to workers, not yet acknowledged",
            status.unacked,
        )
        if status.unacked is not None:  # Redis: 0 when nothing waits for an ack
            yield GaugeMetricFamily(
                "lvd_queue_oldest_unacked_seconds",
                "Age of the oldest unacknowledged message",
                value=status.oldest_unacked_seconds or 0.0,
            )
        yield from _optional_gauge(
            "lvd_dead_letter_batches",
            "Batches parked after their retries ran out",
            status.dead_letter,
        )
        yield from _unconsumed_gauge(status.depths)
        if status.set_aside is not None:
            set_aside = GaugeMetricFamily(
                "lvd_set_aside_messages",
                "Unreadable messages set aside, per queue",
                labels=["queue"],
            )
            for queue, count in status.set_aside.items():
                set_aside.add_metric([queue], count)
            yield set_aside


def _unconsumed_gauge(depths: dict) -> Iterator[Metric]:
    """1 for a queue that holds messages and has had no consumer for a minute, else 0."""
    try:
        last_seen = consumers_last_seen()
    except Exception as exc:  # a scrape must still answer when the database is down
        log.warning("metrics: queue consumers unreadable: %r", exc)
        return
    failing = {found["queue"]: found for found in unconsumed_queues(depths, last_seen)}
    gauge = GaugeMetricFamily(
        "lvd_queue_without_consumer",
        "1 when the queue holds messages and has had no consumer for a minute; "
        "`command` starts its pool",
        labels=["queue", "command"],
    )
    for pool, (queue, _concurrency, _env) in WORKER_POOLS.items():
        gauge.add_metric([queue, start_command(pool)], 1 if queue in failing else 0)
    yield gauge


def _optional_gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    """A gauge, unless the broker cannot tell (None)."""
    if value is not None:
        yield GaugeMetricFamily(name, documentation, value=value)


metrics = Metrics()  # request hooks and /metrics
