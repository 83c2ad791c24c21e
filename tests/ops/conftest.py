"""Operations tests' shared pieces: scraping Prometheus text, pools started by script."""

from __future__ import annotations

import subprocess
import sys
import uuid

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.environment import PROJECT_ROOT
from tests.support.processes import WorkerPool, wait_for


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text -> {(sample name, labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scraped: dict, name: str, **labels: str) -> float:
    """One sample's value (0 when absent: a labelled counter appears on its first use)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)


def scrape(url: str, headers: dict | None = None) -> dict:
    answer = requests.get(url, headers=headers or {}, timeout=10)
    assert answer.status_code == 200, answer.text
    return samples(answer.text)


class ScriptPool(WorkerPool):
    """A pool started the documented way: `start_celery_worker.sh POOL` (exec'd)."""

    def __init__(self, pool: str, env: dict | None = None, options: tuple[str, ...] = ()) -> None:
        super().__init__(pool, concurrency=1, env=env)
        self.options = options
        suffix = f"ops-{uuid.uuid4().hex[:8]}"
        self.env.setdefault("WORKER_NODE_SUFFIX", suffix)
        self.hostname = f"{pool}@{self.env['WORKER_NODE_SUFFIX']}"
        self.env["PYTHON"] = sys.executable

    def start(self, wait: bool = True) -> ScriptPool:
        self.proc = subprocess.Popen(
            ["bash", str(PROJECT_ROOT / "start_celery_worker.sh"), *self.options, self.queue],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.log_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            wait_for(self.ready, timeout=60)
        return self
