"""`python -m bench`: start the stack on this machine, measure every phase, print and save.

Usually run through `bash scripts/bench.sh` (or `make bench`), which installs what it needs.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import dashboard, phases, pipeline, report
from bench.context import Bench, Options
from bench.settings import RESULTS_DIR, ROOT, Settings
from bench.stack import log

PHASES = {
    "ceiling": phases.ceiling,
    "single": phases.single,
    "metrics-cost": phases.metrics_cost,
    "batch": phases.batch,
    "e2e-batch": pipeline.e2e_batch,
    "e2e-single": pipeline.e2e_single,
    "drain": pipeline.drain,
    "validation": phases.validation,
    "viewers": dashboard.viewers,
    "dashboard-reads": dashboard.dashboard_reads,
}
ALIASES = {"e2e": ("e2e-batch", "e2e-single")}
NO_STACK = {"ceiling", "validation"}  # phases that need neither database nor app


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench", description="Benchmark the stack on this machine against a do-nothing app."
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat N times; report medians")
    parser.add_argument("--quick", action="store_true", help="short phases, small backlog")
    parser.add_argument(
        "--only", default="", help=f"comma-separated phases: {', '.join([*PHASES, *ALIASES])}"
    )
    parser.add_argument("--duration", type=float, help="seconds of end-to-end load (60)")
    parser.add_argument("--backlog", type=int, help="events to drain (1,000,000)")
    parser.add_argument("--http-seconds", type=float, help="seconds per wrk measurement (10)")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)

    chosen: list[str] = []
    for name in filter(None, (part.strip() for part in args.only.split(","))):
        if name not in PHASES and name not in ALIASES:
            parser.error(f"unknown phase {name!r}; phases: {', '.join([*PHASES, *ALIASES])}")
        chosen.extend(ALIASES.get(name, (name,)))
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    quick = args.quick
    return Options(
        runs=args.runs,
        quick=quick,
        phases=tuple(p for p in PHASES if not chosen or p in chosen),
        http_seconds=args.http_seconds or (3.0 if quick else 10.0),
        warmup_seconds=1.0 if quick else 2.0,
        duration=args.duration or (3.0 if quick else 60.0),
        backlog=args.backlog or (5_000 if quick else 1_000_000),
        output=args.output,
    )


def _command(*argv: str) -> str | None:
    try:
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return None


def machine() -> dict:
    wrk_version = (_command("wrk", "-v") or "").splitlines()
    return {
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _command("git", "rev-parse", "HEAD"),
        "git_dirty": bool(_command("git", "status", "--porcelain", "--untracked-files=no")),
        "wrk": wrk_version[0] if wrk_version else None,
    }


def run_once(bench: Bench, number: int) -> dict:
    results: dict[str, dict] = {}
    for name in bench.options.phases:
        log(f"run {number}/{bench.options.runs}: phase {name}")
        results[name] = PHASES[name](bench)
    peak = bench.stop_web()
    if bench.pools is not None:
        bench.pools.stop_all()
    if peak is not None:
        results["web"] = {"peak_rss_mb": peak}
    return results


def _stop_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on_signal)
    settings = Settings()
    bench = Bench(options, settings)
    os.environ.update(bench.env)  # celery_config, read in this process, sees the stack's
    started = datetime.now(UTC)
    info = machine()
    runs: list[dict] = []
    ok = False
    try:
        if set(options.phases) - NO_STACK:
            bench.prepare()
        for number in range(1, options.runs + 1):
            runs.append(run_once(bench, number))
        ok = True
    finally:
        bench.close(keep_logs=not ok)

    metrics = report.medians(runs)
    latest = RESULTS_DIR / ("latest-quick.json" if options.quick else "latest.json")
    previous = report.load_previous(latest)
    rows = report.evaluate(metrics, previous and previous.get("metrics"))
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    document = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": info,
        "options": {
            "runs": options.runs,
            "quick": options.quick,
            "phases": list(options.phases),
            "http_seconds": options.http_seconds,
            "duration": options.duration,
            "backlog": options.backlog,
        },
        "stack": {
            "web_workers": (runs[0].get("ceiling") or {}).get("detail", {}).get("web_workers"),
            "pools": bench.pools.pools if bench.pools else None,
        },
        "metrics": metrics,
        "rows": rows,
        "previous": previous and previous.get("started_at"),
        "runs": runs,
    }
    paths = [RESULTS_DIR / f"{stamp}.json", latest]
    if options.output:
        paths.append(options.output)
    report.write(document, paths)

    title = f"Benchmark {stamp}: {info['cpu_count']} CPUs, load {info['load_average'][0]:.2f}"
    if options.runs > 1:
        title += f", medians of {options.runs} runs"
    if options.quick:
        title += " (--quick: a smoke test, not figures to compare with targets)"
    if previous:
        title += f"; ×previous is against {previous.get('started_at')}"
    print(title)
    print(report.table(rows))
    print(f"\nJSON: {paths[0].relative_to(ROOT)} (and {latest.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
