"""Sample the resident memory of a changing set of processes, once a second, with psutil."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

MB = 1024 * 1024


@dataclass
class Sample:
    at: float
    rss_mb: dict[int, float]  # pid -> RSS
    progress: int | None = None  # e.g. events stored so far


@dataclass
class RssSampler:
    """Record the RSS of every process `targets()` returns, every `interval` seconds,
    in a background thread, between start() and stop()."""

    targets: Callable[[], list[psutil.Process]]
    interval: float = 1.0
    progress: Callable[[], int] | None = None
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> RssSampler:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self

    def __enter__(self) -> RssSampler:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        sizes = {}
        for process in self.targets():
            try:
                sizes[process.pid] = process.memory_info().rss / MB
            except psutil.Error:
                continue
        if sizes:
            progress = self.progress() if self.progress else None
            self.samples.append(Sample(time.monotonic(), sizes, progress))

    def peak_mb(self) -> float | None:
        """The largest RSS any single process reached."""
        return max((max(s.rss_mb.values()) for s in self.samples), default=None)


def flatness_pct(samples: list[Sample], total: int, early_share: float = 0.1) -> dict | None:
    """Compare the largest worker's RSS once `early_share` of `total` events were stored
    with its RSS in the last sample; return the sizes and the change in percent."""
    with_progress = [s for s in samples if s.progress is not None]
    early = next((s for s in with_progress if s.progress >= early_share * total), None)
    if early is None or not with_progress:
        return None
    late = with_progress[-1]
    early_mb, late_mb = max(early.rss_mb.values()), max(late.rss_mb.values())
    return {
        "early_mb": round(early_mb, 1),
        "early_events": early.progress,
        "end_mb": round(late_mb, 1),
        "end_events": late.progress,
        "change_pct": round(100 * (late_mb - early_mb) / early_mb, 1),
    }
