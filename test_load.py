"""Load test: `locust -f test_load.py --headless -u 50 -r 10 -t 1m --host http://127.0.0.1:8000`.

Uses the app named by LVD_APP_ID / LVD_INGEST_KEY, or creates one (with the benchmark's
`user_login` schema) through the CLI when they are unset, so a run needs no preparation.

- MobileAppUser: single events, about 80 % valid, 10 % invalid, 10 % unplanned.
- SdkBatchUser: gzipped batches of 20 to 100 events, as an SDK flushing its buffer.
- ReaderUser: GET /health and the status of tasks the other users were given.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import uuid
from collections import deque
from pathlib import Path

from locust import HttpUser, between, events, task

from bench import workload

ROOT = Path(__file__).resolve().parent
TARGET = {"app_id": os.environ.get("LVD_APP_ID"), "key": os.environ.get("LVD_INGEST_KEY")}
TASK_STATES = {"PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE"}
# Task ids from recent answers, for ReaderUser; bounded so a long run stays small.
recent_task_ids: deque[str] = deque(maxlen=500)


def _flask(*args: str) -> dict:
    output = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run", *args, "--json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


@events.test_start.add_listener
def create_target_app(environment, **_kwargs) -> None:
    """Create a fresh app and schema unless one was given in the environment."""
    if TARGET["app_id"] and TARGET["key"]:
        return
    created = _flask("apps", "create", f"load-{uuid.uuid4().hex[:8]}")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as schema_file:
        json.dump(workload.SCHEMA, schema_file)
    try:
        _flask("schemas", "set", created["id"], workload.EVENT_NAME, schema_file.name)
    finally:
        os.unlink(schema_file.name)
    TARGET.update(app_id=created["id"], key=created["ingest_key"])


def make_event() -> dict:
    """One event of the mix, with a unique eventId as a real SDK sets."""
    _kind, event = workload.mixed_event()
    return {"eventId": str(uuid.uuid4()), **event}


def _unexpected(response, expected: str) -> None:
    response.failure(f"expected {expected}, got {response.status_code}: {response.text[:200]}")


def _answer(response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class MobileAppUser(HttpUser):
    """A mobile app sending single events."""

    weight = 6
    wait_time = between(0.05, 0.2)

    @task
    def send_event(self) -> None:
        event = make_event()
        with self.client.post(
            f"/api/logs/{TARGET['app_id']}",
            json=event,
            headers={"X-API-Key": TARGET["key"]},
            name="/api/logs/[app_id]",
            catch_response=True,
        ) as response:
            body = _answer(response)
            if response.status_code != 202 or body is None:
                _unexpected(response, "202")
            elif body.get("event_name") != event["eventName"]:
                response.failure(f"answer is for another event: {response.text[:200]}")
            elif body.get("task_id"):
                recent_task_ids.append(body["task_id"])


class SdkBatchUser(HttpUser):
    """An SDK flushing its buffer: gzipped batches of 20 to 100 events."""

    weight = 3
    wait_time = between(0.5, 1.5)

    @task
    def send_batch(self) -> None:
        batch = [make_event() for _ in range(random.randint(20, 100))]
        with self.client.post(
            f"/api/logs/{TARGET['app_id']}/batch",
            data=gzip.compress(json.dumps({"events": batch}).encode()),
            headers={
                "X-API-Key": TARGET["key"],
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            name="/api/logs/[app_id]/batch",
            catch_response=True,
        ) as response:
            body = _answer(response)
            if response.status_code != 202 or body is None:
                _unexpected(response, "202")
            elif body.get("accepted") != len(batch):
                response.failure(f"{body.get('accepted')} of {len(batch)} events accepted")
            elif body.get("task_id"):
                recent_task_ids.append(body["task_id"])


class ReaderUser(HttpUser):
    """A monitor: each poll reads /health and the status of a few recently queued tasks."""

    weight = 1
    wait_time = between(0.5, 1.0)

    @task
    def poll(self) -> None:
        self.health()
        for task_id in random.sample(list(recent_task_ids), min(3, len(recent_task_ids))):
            self.task_status(task_id)

    def health(self) -> None:
        with self.client.get("/health", name="/health", catch_response=True) as response:
            body = _answer(response)
            if response.status_code != 200 or body is None or body.get("status") != "ok":
                _unexpected(response, "200 with status ok")

    def task_status(self, task_id: str) -> None:
        with self.client.get(
            f"/api/tasks/{task_id}", name="/api/tasks/[task_id]", catch_response=True
        ) as response:
            body = _answer(response)
            if response.status_code != 200 or body is None:
                _unexpected(response, "200")
            elif body.get("task_id") != task_id or body.get("state") not in TASK_STATES:
                response.failure(f"unexpected task status: {response.text[:200]}")
