"""`python -m bench.compare`: is one commit (or setting) slower than another, beyond noise?

On a shared or virtual machine the speed of the same code drifts by 20 % and more within
minutes, so two benchmarks taken at different times cannot tell a 5 % change from noise.
This runs the benchmark alternately on two sides, round after round (A, B, B, A, A, B…,
so neither side always goes first), and reports each side's median and the median of the
per-round ratios B / A, with their spread: the change is real only when the ratios of
every round agree on it.

A side is a commit (checked out in a temporary git worktree, running its own benchmark
code) or the working tree, optionally with extra environment variables:

    python -m bench.compare --base 5dad1d7 --only drain --backlog 300000 --rounds 5
    python -m bench.compare --base-env METRICS_ENABLED=false --only ceiling,single

Every other argument goes to `python -m bench` on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.settings import ROOT

# (phase, metric) pairs reported, when the phases ran: the figures the targets are on.
FIGURES = (
    ("ceiling", "rps_c16"),
    ("single", "rps_c16"),
    ("metrics-cost", "cpu_ratio"),
    ("batch", "events_per_s"),
    ("e2e-batch", "stored_events_per_s"),
    ("e2e-single", "stored_events_per_s"),
    ("drain", "events_per_s"),
    ("drain", "events_per_s_after_first_row"),
    ("viewers", "ratio"),
)


@dataclass
class Side:
    label: str
    tree: Path
    env: dict[str, str] = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)

    def run(self, bench_args: list[str], output: Path) -> dict:
        """One benchmark run on this side; its medians by phase."""
        python = os.environ.get("BENCH_PYTHON", sys.executable)
        command = [python, "-m", "bench", "--runs", "1", *bench_args, "--output", str(output)]
        print(f"[compare] {self.label}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
        subprocess.run(  # its report goes to stderr: stdout is the comparison
            command, cwd=self.tree, env={**os.environ, **self.env}, check=True, stdout=sys.stderr
        )
        metrics = json.loads(output.read_text())["metrics"]
        self.results.append(metrics)
        return metrics


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--base-env/--env take NAME=VALUE, not {pair!r}")
        env[name] = value
    return env


def add_worktree(commit: str) -> Path:
    """A detached checkout of `commit` in a temporary folder, sharing this .venv."""
    folder = Path(tempfile.mkdtemp(prefix="lvd-compare-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return folder


def remove_worktree(folder: Path) -> None:
    subprocess.run(
        ["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, capture_output=True
    )
    shutil.rmtree(folder.parent, ignore_errors=True)


def order(rounds: int) -> list[tuple[int, int]]:
    """(round, side) in ABBA order: a side that runs second in one round runs first next."""
    return [(r, s if r % 2 == 0 else 1 - s) for r in range(rounds) for s in (0, 1)]


def figure(metrics: dict, phase: str, metric: str) -> float | None:
    value = (metrics.get(phase) or {}).get(metric)
    return value if isinstance(value, (int, float)) else None


def summary(base: Side, changed: Side) -> list[dict]:
    """Per figure: both sides' medians and the per-round ratios changed / base."""
    rows = []
    for phase, metric in FIGURES:
        pairs = [
            (figure(a, phase, metric), figure(b, phase, metric))
            for a, b in zip(base.results, changed.results, strict=False)
        ]
        pairs = [(a, b) for a, b in pairs if a and b is not None]
        if not pairs:
            continue
        ratios = sorted(b / a for a, b in pairs)
        rows.append(
            {
                "figure": f"{phase} {metric}",
                "base": [a for a, _ in pairs],
                "changed": [b for _, b in pairs],
                "base_median": statistics.median(a for a, _ in pairs),
                "changed_median": statistics.median(b for _, b in pairs),
                "ratios": ratios,
                "ratio_median": statistics.median(ratios),
            }
        )
    return rows


def print_table(rows: list[dict], base: Side, changed: Side) -> None:
    print(f"base:    {base.label}\nchanged: {changed.label}")
    header = f"{'figure':<32} {'base median':>12} {'changed median':>15} {'ratio':>6}  ratios"
    print(header)
    print("-" * len(header))
    for row in rows:
        ratios = " ".join(f"{r:.2f}" for r in row["ratios"])
        print(
            f"{row['figure']:<32} {row['base_median']:>12,.2f} {row['changed_median']:>15,.2f}"
            f" {row['ratio_median']:>6.3f}  {ratios}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.compare",
        description="Run the benchmark alternately on two sides and compare them round by round.",
    )
    parser.add_argument("--base", help="commit of the base side (default: the working tree)")
    parser.add_argument("--base-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment of the changed side (the working tree)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args, bench_args = parser.parse_known_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.base and not args.base_env:
        parser.error("give --base COMMIT and/or --base-env NAME=VALUE: the sides would be equal")

    base_tree = add_worktree(args.base) if args.base else ROOT
    base_label = " ".join([args.base or "working tree", *args.base_env])
    sides = [
        Side(base_label, base_tree, parse_env(args.base_env)),
        Side(" ".join(["working tree", *args.env]), ROOT, parse_env(args.env)),
    ]
    scratch = Path(tempfile.mkdtemp(prefix="lvd-compare-out-"))
    try:
        for number, side in order(args.rounds):
            sides[side].run(bench_args, scratch / f"{number}-{side}.json")
    finally:
        if args.base:
            remove_worktree(base_tree)
        shutil.rmtree(scratch, ignore_errors=True)
    rows = summary(*sides)
    print_table(rows, *sides)
    if args.output:
        document = {
            "base": sides[0].label,
            "changed": sides[1].label,
            "bench_args": bench_args,
            "rounds": args.rounds,
            "figures": rows,
        }
        args.output.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
