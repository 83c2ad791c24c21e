"""Run wrk with bench/lua/ingest.lua and parse the JSON line its done() hook prints."""

from __future__ import annotations

import json
import math
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "ingest.lua"
RESULT_MARK = "WRK_RESULT "
THREADS = 2


class WrkError(RuntimeError):
    """wrk did not run, or printed no result line."""


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    latency_ms: dict[str, float]
    status_202: int
    non_202: int
    socket_errors: int
    accepted: int
    connections: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        """Answers other than 202, plus connect/read/write/timeout errors."""
        return self.non_202 + self.socket_errors


def parse_output(stdout: str, connections: int) -> WrkResult:
    """Build a WrkResult from wrk's stdout (the WRK_RESULT line; the text is ignored)."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        raise WrkError(f"wrk printed no {RESULT_MARK.strip()} line:\n{stdout[-2000:]}")
    data = json.loads(lines[-1][len(RESULT_MARK) :])
    errors = data["errors"]
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        latency_ms={k: v / 1000 for k, v in data["latency_us"].items()},
        status_202=data["status_202"],
        non_202=data["non_202"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        accepted=data["accepted"],
        connections=connections,
    )


@dataclass
class Load:
    """What to send: the target URL, the event templates and the API key."""

    url: str
    templates: Path
    key: str = "none"
    mode: str = "single"
    batch_size: int = 100

    def argv(self, connections: int, seconds: float, max_requests: int = 0) -> list[str]:
        threads = min(THREADS, connections)
        per_thread = math.ceil(max_requests / threads) if max_requests else 0
        return [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(LUA_SCRIPT),
            self.url,
            "--",
            str(self.templates),
            self.mode,
            str(self.batch_size),
            str(per_thread),
            secrets.token_hex(4),  # eventIds stay unique across runs on the same database
            self.key,
        ]


def run(
    load: Load,
    connections: int,
    seconds: float,
    *,
    max_requests: int = 0,
    stop_when: Callable[[], bool] | None = None,
    log_path: Path | None = None,
) -> WrkResult:
    """Run wrk for `seconds`, or until `stop_when()` is true (checked 5 times a second);
    SIGINT makes wrk stop early and still print its summary."""
    argv = load.argv(connections, seconds, max_requests)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        if stop_when is not None:
            while proc.poll() is None:
                if stop_when():
                    os.kill(proc.pid, signal.SIGINT)
                    break
                time.sleep(0.2)
        stdout, _ = proc.communicate(timeout=seconds + 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if log_path is not None:
        with log_path.open("a") as log:
            log.write(" ".join(argv) + "\n" + stdout)
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with {proc.returncode}:\n{stdout[-2000:]}")
    return parse_output(stdout, connections)
