"""One benchmark session: options, the isolated stack, the bench app and its credentials."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import workload
from bench.backends import Broker, Database, recreate_database
from bench.rss import RssSampler
from bench.settings import RATE_LIMIT, ROOT, Settings
from bench.stack import Processes, WebServer, WorkerPools, log
from bench.wrk import Load

BATCH_SIZE = 100


@dataclass
class Options:
    runs: int = 1
    quick: bool = False
    phases: tuple[str, ...] = ()
    http_seconds: float = 10.0
    warmup_seconds: float = 2.0
    duration: float = 60.0
    backlog: int = 1_000_000
    output: Path | None = None

    @property
    def catch_up_timeout(self) -> float:
        """How long to wait for accepted events to be stored after a load ends."""
        return max(120.0, 5 * self.duration)

    @property
    def drain_timeout(self) -> float:
        return max(120.0, self.backlog / 200)


@dataclass
class Bench:
    options: Options
    settings: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        self.env = self.settings.env()
        self.processes = Processes(self.settings.log_dir)
        self.templates = workload.write_lua_templates(self.settings.workdir / "templates.lua")
        self.app_id = "ceiling"
        self.key = "none"
        self.db: Database | None = None
        self.broker: Broker | None = None
        self.pools: WorkerPools | None = None
        self.web: WebServer | None = None
        self.web_rss: RssSampler | None = None

    # --- the stack --------------------------------------------------------------------
    def prepare(self) -> None:
        """Fresh database and Redis databases, migrations, an app with the bench schema."""
        log(f"database {self.settings.database_url}: drop, create, migrate")
        recreate_database(self.settings.database_url)
        self.broker = Broker(self.settings)
        self.broker.flush_all()
        self.flask("db", "upgrade")
        created = self.flask(
            "apps", "create", f"bench-{uuid.uuid4().hex[:8]}", "--rate-limit", RATE_LIMIT, "--json"
        )
        schema_file = self.settings.workdir / "schema.json"
        schema_file.write_text(json.dumps(workload.SCHEMA))
        self.flask("schemas", "set", created["id"], workload.EVENT_NAME, str(schema_file), "--json")
        self.app_id, self.key = created["id"], created["ingest_key"]
        self.db = Database(self.settings.database_url)
        self.pools = WorkerPools(self.processes, self.env, self.settings.broker_url)

    def flask(self, *args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "run", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[-1]) if "--json" in args else {}

    def module_json(self, module: str, *args: str) -> dict:
        """Run `python -m module args` with the stack's environment; its last line's JSON."""
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def ensure_web(self) -> WebServer:
        """The real app under gunicorn, started once per run; its workers' RSS is sampled."""
        if self.web is None:
            log("starting gunicorn run:app")
            self.web = WebServer(self.processes, "web", "run:app", self.env).start()
            self.web_rss = RssSampler(self.web.workers).start()
        return self.web

    def stop_web(self) -> float | None:
        """Stop the real app; return its workers' peak RSS in MB."""
        peak = None
        if self.web_rss is not None:
            peak = self.web_rss.stop().peak_mb()
            self.web_rss = None
        if self.web is not None:
            self.web.stop()
            self.web = None
        return peak

    @property
    def storage_queue(self) -> str:
        return self.pools.pools[self.pools.storage][0]

    def settled_queue(self, quiet: float = 1.0, timeout: float = 30.0) -> int:
        """The storage queue's length once it has not changed for `quiet` seconds: gunicorn
        still publishes the requests it had accepted when wrk stopped."""
        last, since = self.broker.queued(self.storage_queue), time.monotonic()
        deadline = since + timeout
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.broker.queued(self.storage_queue)
            if now != last:
                last, since = now, time.monotonic()
        return last

    def purge_queues(self) -> None:
        """Empty the queues once nothing more arrives (the events tables stay)."""
        if self.pools is not None and not self.pools.running(self.pools.storage):
            self.settled_queue()
        dropped = self.broker.purge([queue for queue, _c in self.pools.pools.values()])
        if dropped:
            log(f"purged {dropped} queued message(s)")

    def reset_events(self) -> None:
        """Empty the queues (once nothing more arrives) and the events tables."""
        self.purge_queues()
        self.db.truncate_events()

    # --- loads ------------------------------------------------------------------------
    def load(self, mode: str, url: str | None = None) -> Load:
        base = url or f"{self.ensure_web().url}/api/logs/{self.app_id}"
        return Load(
            url=base + ("/batch" if mode == "batch" else ""),
            templates=self.templates,
            key=self.key,
            mode=mode,
            batch_size=BATCH_SIZE,
        )

    def batches_for(self, events: int) -> int:
        return math.ceil(events / BATCH_SIZE)

    def wrk_log(self) -> Path:
        return self.settings.log_dir / "wrk.log"

    # --- teardown ---------------------------------------------------------------------
    def close(self, keep_logs: bool = False) -> None:
        self.stop_web()
        self.processes.stop_all()
        if self.pools is not None:
            self.pools.close()
        if self.db is not None:
            self.db.close()
        if keep_logs:
            log(f"logs kept in {self.settings.log_dir}")
        else:
            shutil.rmtree(self.settings.workdir, ignore_errors=True)
