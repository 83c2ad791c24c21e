"""Where the benchmark's stack lives: its own database, Redis databases and instance folder."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgresql://postgres:postgres@127.0.0.1:5432/lvd_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
BROKER_DB, RESULTS_DB, LIMITS_DB = 3, 4, 5
# High enough never to refuse the benchmark's load; the limiter still counts in Redis.
RATE_LIMIT = "1000000000/second"


@dataclass
class Settings:
    database_url: str = field(
        default_factory=lambda: os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    redis_url: str = field(
        default_factory=lambda: os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL).rstrip("/")
    )
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lvd-bench-")))

    @property
    def broker_url(self) -> str:
        return f"{self.redis_url}/{BROKER_DB}"

    @property
    def results_url(self) -> str:
        return f"{self.redis_url}/{RESULTS_DB}"

    @property
    def limits_url(self) -> str:
        return f"{self.redis_url}/{LIMITS_DB}"

    @property
    def instance_path(self) -> Path:
        return self.workdir / "instance"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    def env(self) -> dict[str, str]:
        """The environment of every process of the stack (web, workers, CLI)."""
        self.instance_path.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        venv_bin = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
            "PYTHON": sys.executable,
            "FLASK_APP": "run",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_RESULT_BACKEND": self.results_url,
            "REDIS_URL": self.limits_url,
            "INSTANCE_PATH": str(self.instance_path),
            "INGEST_RATE_LIMIT": RATE_LIMIT,
            "GUNICORN_ACCESS_LOG": "",  # no access log, for the ceiling and the app alike
            "LOG_LEVEL": "WARNING",
            "WORKER_LOG_LEVEL": "WARNING",
            "WORKER_NODE_SUFFIX": f"bench-{os.getpid()}",
        }
