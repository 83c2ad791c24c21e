"""The benchmark's own logic, without servers: wrk output, medians, targets, RSS flatness,
alternating windows and the two-sided comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import compare, report
from bench.__main__ import parse_args
from bench.alternate import Alternation, abba
from bench.rss import Sample, flatness_pct
from bench.wrk import WrkError, WrkResult, parse_output

WRK_LINE = {
    "requests": 3000,
    "duration_us": 3_000_000,
    "bytes": 1,
    "errors": {"connect": 1, "read": 0, "write": 0, "status": 2, "timeout": 3},
    "latency_us": {"p50": 1500, "p90": 4000, "p99": 9000, "mean": 2000.0, "max": 12000},
    "status_202": 2990,
    "non_202": 10,
    "accepted": 299_000,
}


def test_wrk_result_comes_from_the_done_hook_line():
    stdout = "Running 3s test\n  2 threads\nWRK_RESULT " + json.dumps(WRK_LINE) + "\n"
    result = parse_output(stdout, connections=16)
    assert result.rps == 1000
    assert result.accepted_per_s == pytest.approx(99_666.67, rel=1e-4)
    assert result.latency_ms == {"p50": 1.5, "p90": 4.0, "p99": 9.0, "mean": 2.0, "max": 12.0}
    assert result.errors == 10 + 1 + 3  # non-202 answers and socket errors, not double-counted


def test_wrk_output_without_a_result_line_is_an_error():
    with pytest.raises(WrkError):
        parse_output("unable to connect to 127.0.0.1:1 Connection refused\n", connections=4)


def test_medians_skip_details_and_missing_values():
    runs = [
        {"single": {"rps_c16": 100, "detail": {"x": 1}}, "web": {"peak_rss_mb": 80}},
        {"single": {"rps_c16": 300, "catch_up_s": None}},
        {"single": {"rps_c16": 200}},
    ]
    assert report.medians(runs) == {"single": {"rps_c16": 200}, "web": {"peak_rss_mb": 80}}


@pytest.mark.parametrize(
    ("single_rps", "met"),
    [(500, True), (499, False)],
)
def test_single_event_target_is_half_the_ceiling(single_rps, met):
    metrics = {"ceiling": {"rps_c16": 1000}, "single": {"rps_c16": single_rps}}
    row = next(r for r in report.evaluate(metrics, None) if r["phase"] == "single")
    assert row["vs_ceiling"] == single_rps / 1000
    assert row["met"] is met


def test_rows_compare_with_the_previous_run_and_the_ceiling():
    metrics = {"ceiling": {"rps_c16": 1000, "p99_ms_c4": 2}, "single": {"p99_ms_c4": 8}}
    rows = report.evaluate(metrics, {"single": {"p99_ms_c4": 4}})
    row = next(r for r in rows if r["phase"] == "single" and r["metric"] == "p99_ms_c4")
    assert (row["vs_ceiling"], row["vs_previous"], row["met"]) == (4, 2, True)
    assert "FAIL" not in report.table(rows)


def test_storage_rss_flatness_compares_ten_percent_with_the_end():
    samples = [
        Sample(0, {1: 90, 2: 95}, progress=0),
        Sample(1, {1: 100, 2: 98}, progress=150),
        Sample(2, {1: 104, 2: 99}, progress=1000),
        Sample(3, {1: 110, 2: 99}, progress=1000),
    ]
    flat = flatness_pct(samples, total=1000)
    assert flat["early_mb"] == 100 and flat["end_mb"] == 110
    assert flat["change_pct"] == 10.0
    assert report.Target("abs<=", 10).met(flat["change_pct"], None)


def test_quick_shortens_phases_unless_told_otherwise():
    quick = parse_args(["--quick", "--only", "e2e,validation", "--backlog", "20000"])
    assert quick.phases == ("e2e-batch", "e2e-single", "validation")
    assert (quick.http_seconds, quick.duration, quick.backlog) == (3.0, 3.0, 20000)
    full = parse_args([])
    assert (full.http_seconds, full.duration, full.backlog, full.runs) == (10, 60, 1_000_000, 1)


def test_unknown_phase_is_refused():
    with pytest.raises(SystemExit):
        parse_args(["--only", "nope"])


def _result(rps: float) -> WrkResult:
    return WrkResult(
        requests=int(rps * 5),
        duration_s=5.0,
        latency_ms={},
        status_202=int(rps * 5),
        non_202=0,
        socket_errors=0,
        accepted=int(rps * 5),
        connections=16,
    )


def test_alternating_windows_swap_which_condition_goes_first():
    assert list(abba(3)) == [(0, 0), (0, 1), (1, 1), (1, 0), (2, 0), (2, 1)]


def test_alternation_ratio_is_the_median_of_round_ratios_not_of_medians():
    # The machine slows down between rounds; each round's ratio still says 0.9.
    outcome = Alternation(
        ("alone", "with"),
        {
            "alone": [_result(1000), _result(500), _result(2000)],
            "with": [_result(900), _result(450), _result(1800)],
        },
    )
    assert outcome.ratios() == pytest.approx([0.9, 0.9, 0.9])
    assert outcome.ratio() == pytest.approx(0.9)
    assert outcome.median_rps("alone") == pytest.approx(1000)


def test_compare_runs_sides_abba_and_reports_per_round_ratios():
    assert compare.order(2) == [(0, 0), (0, 1), (1, 1), (1, 0)]
    base = compare.Side("base", Path("."))
    changed = compare.Side("changed", Path("."))
    base.results = [{"drain": {"events_per_s": 20_000}}, {"drain": {"events_per_s": 10_000}}]
    changed.results = [{"drain": {"events_per_s": 19_000}}, {"drain": {"events_per_s": 9_800}}]
    (row,) = compare.summary(base, changed)
    assert row["figure"] == "drain events_per_s"
    assert row["ratios"] == pytest.approx([0.95, 0.98])
    assert row["ratio_median"] == pytest.approx(0.965)
    assert row["base_median"] == 15_000


def test_compare_refuses_malformed_environment():
    with pytest.raises(SystemExit):
        compare.parse_env(["METRICS_ENABLED"])
    assert compare.parse_env(["A=b=c"]) == {"A": "b=c"}
