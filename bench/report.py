"""The result table (ratios to the ceiling, to the previous run, targets) and its JSON."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.workload import INVALID_ERRORS

CEILING_RPS = ("ceiling", "rps_c16")


@dataclass(frozen=True)
class Target:
    op: str  # ">=", "<=", "==", "abs<="
    threshold: float
    on_ratio: bool = False  # compare value / ceiling requests/s instead of the value

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        subject = ratio if self.on_ratio else value
        if subject is None:
            return None
        return {
            ">=": subject >= self.threshold,
            "<=": subject <= self.threshold,
            "==": subject == self.threshold,
            "abs<=": abs(subject) <= self.threshold,
        }[self.op]

    def __str__(self) -> str:
        op = "±" if self.op == "abs<=" else self.op.replace(">=", "≥").replace("<=", "≤")
        suffix = " × ceiling" if self.on_ratio else ""
        return f"{op} {self.threshold:g}{suffix}"


@dataclass(frozen=True)
class Row:
    phase: str
    metric: str
    unit: str
    ratio: str | None = None  # "rps": ÷ ceiling requests/s; "same": ÷ the ceiling's metric
    target: Target | None = None


ROWS = (
    Row("ceiling", "rps_c16", "req/s", "rps"),
    Row("ceiling", "p99_ms_c16", "ms"),
    Row("ceiling", "p50_ms_c4", "ms"),
    Row("ceiling", "p99_ms_c4", "ms"),
    Row("ceiling", "web_rss_mb", "MB"),
    Row("single", "rps_c16", "req/s", "rps", Target(">=", 0.5, on_ratio=True)),
    Row("single", "p99_ms_c16", "ms", "same"),
    Row("single", "p50_ms_c4", "ms", "same"),
    Row("single", "p99_ms_c4", "ms", "same", Target("<=", 10)),
    Row("single", "errors", "", None, Target("==", 0)),
    # Prometheus metrics: the same app with and without them, in alternating windows.
    Row("metrics-cost", "rps_without", "req/s", "rps"),
    Row("metrics-cost", "rps_with", "req/s", "rps"),
    Row("metrics-cost", "rps_ratio", ""),
    Row("metrics-cost", "cpu_us_without", "µs"),
    Row("metrics-cost", "cpu_us_with", "µs"),
    Row("metrics-cost", "cpu_ratio", "", None, Target(">=", 0.95)),
    Row("metrics-cost", "errors", "", None, Target("==", 0)),
    Row("batch", "requests_per_s", "req/s", "rps"),
    Row("batch", "events_per_s", "ev/s", "rps", Target(">=", 20_000)),
    Row("batch", "p99_ms_c16", "ms"),
    Row("batch", "errors", "", None, Target("==", 0)),
    Row("e2e-batch", "stored_events_per_s", "ev/s", "rps", Target(">=", 10_000)),
    Row("e2e-batch", "accepted_events_per_s", "ev/s", "rps"),
    Row("e2e-batch", "unstored_at_end", "ev"),
    Row("e2e-batch", "catch_up_s", "s"),
    Row("e2e-batch", "errors", "", None, Target("==", 0)),
    Row("e2e-single", "stored_events_per_s", "ev/s", "rps", Target(">=", 1_500)),
    Row("e2e-single", "accepted_events_per_s", "ev/s", "rps"),
    Row("e2e-single", "unstored_at_end", "ev"),
    Row("e2e-single", "catch_up_s", "s"),
    Row("e2e-single", "errors", "", None, Target("==", 0)),
    Row("drain", "backlog_events", "ev"),
    Row("drain", "events_per_s", "ev/s", "rps", Target(">=", 15_000)),
    Row("drain", "events_per_s_after_first_row", "ev/s", "rps"),
    Row("drain", "worker_startup_s", "s"),
    Row("drain", "storage_rss_peak_mb", "MB"),
    Row("drain", "storage_rss_change_pct", "%", None, Target("abs<=", 10)),
    Row("validation", "valid_us", "µs", None, Target("<=", 20)),
    Row("validation", "invalid_us", "µs"),
    Row("validation", "invalid_errors", "", None, Target("==", INVALID_ERRORS)),
    Row("validation", "record_us", "µs"),
    Row("web", "peak_rss_mb", "MB", None, Target("<=", 150)),
    # Dashboard: ingest while 20 live pages poll; the JSON endpoints at 1,000,000 events.
    Row("viewers", "rps_alone", "req/s", "rps"),
    Row("viewers", "rps_with_viewers", "req/s", "rps"),
    Row("viewers", "ratio", "", None, Target(">=", 0.9)),
    Row("viewers", "poll_p95_ms", "ms"),
    Row("viewers", "poll_failures", "", None, Target("==", 0)),
    *(
        Row("dashboard-reads", f"{endpoint}_p95_ms", "ms", None, Target("<=", 100))
        for endpoint in (
            "stream",
            "stream_cursor",
            "stream_invalid",
            "stream_name",
            "detail",
            "stats_1h",
            "stats_24h",
            "stats_7d",
            "stats_30d",
            "errors_1h",
            "errors_24h",
            "errors_7d",
            "errors_30d",
        )
    ),
)


def medians(runs: list[dict]) -> dict:
    """{phase: {metric: median over the runs}}; "detail" entries are left out."""
    merged: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for phase, metrics in run.items():
            for metric, value in metrics.items():
                if metric != "detail" and isinstance(value, int | float):
                    merged.setdefault(phase, {}).setdefault(metric, []).append(value)
    return {
        phase: {metric: statistics.median(values) for metric, values in metrics.items()}
        for phase, metrics in merged.items()
    }


def _get(metrics: dict, phase: str, metric: str) -> float | None:
    return (metrics.get(phase) or {}).get(metric)


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def evaluate(metrics: dict, previous: dict | None) -> list[dict]:
    """One entry per row that has a value: value, ratios, target and whether it is met."""
    ceiling_rps = _get(metrics, *CEILING_RPS)
    rows = []
    for row in ROWS:
        value = _get(metrics, row.phase, row.metric)
        if value is None:
            continue
        base = None
        if row.ratio == "rps":
            base = ceiling_rps
        elif row.ratio == "same" and row.phase != "ceiling":
            base = _get(metrics, "ceiling", row.metric)
        ratio = _ratio(value, base)
        prev = _get(previous or {}, row.phase, row.metric)
        rows.append(
            {
                "phase": row.phase,
                "metric": row.metric,
                "unit": row.unit,
                "value": value,
                "vs_ceiling": ratio,
                "vs_previous": _ratio(value, prev),
                "target": str(row.target) if row.target else None,
                "met": row.target.met(value, ratio) if row.target else None,
            }
        )
    return rows


def _number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    """A plain-text table for the terminal."""
    header = ("phase", "metric", "value", "unit", "×ceiling", "×previous", "target", "")
    lines = []
    for row in rows:
        mark = {True: "ok", False: "FAIL", None: ""}[row["met"]]
        lines.append(
            (
                row["phase"],
                row["metric"],
                _number(row["value"]),
                row["unit"],
                _number(row["vs_ceiling"], 3),
                _number(row["vs_previous"], 3),
                row["target"] or "",
                mark,
            )
        )
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]
    right = {2, 4, 5}

    def fmt(cells) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


def load_previous(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write(document: dict, paths: list[Path]) -> None:
    text = json.dumps(document, indent=2, default=str) + "\n"
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
