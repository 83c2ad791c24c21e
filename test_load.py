"""Load test: `locust -f test_load.py --headless -u 50 -r 10 -t 1m --host http://127.0.0.1:8000`.

Uses the app named by LVD_APP_ID / LVD_INGEST_KEY, or creates one (with the benchmark's
`user_login` schema) through the CLI when they are unset, so a run needs no preparation.

- MobileAppUser: single events, about 80 % valid, 10 % invalid, 10 % unplanned.
- SdkBatchUser: gzipped batches of 20 to 100 events, as an SDK flushing its buffer.
- DashboardReader: a developer with the live page open: loads the page and the app's
  stats, then polls the live stream with its cursor once a second and the stats every
  tenth poll, as the page's script does. Its session is made once per run by
  `python -m bench.viewer_session` (so run locust with the server's DATABASE_URL and
  secret key), or given as LVD_SESSION_COOKIE (the `session` cookie's value).
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
from pathlib import Path

import gevent
from locust import HttpUser, between, constant, events, task

from bench import workload

ROOT = Path(__file__).resolve().parent
TARGET = {"app_id": os.environ.get("LVD_APP_ID"), "key": os.environ.get("LVD_INGEST_KEY")}
VIEWER = {"cookie": os.environ.get("LVD_SESSION_COOKIE"), "name": "session"}
STATS_EVERY_POLLS = 10


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
    """Create a fresh app and schema unless one was given; make a viewer's session in the
    background, so that ingestion starts at once (readers wait for it in on_start)."""
    if not (TARGET["app_id"] and TARGET["key"]):
        create_app_and_schema()
    if not VIEWER["cookie"]:
        VIEWER["pending"] = gevent.spawn(lambda: VIEWER.update(viewer_session(TARGET["app_id"])))


def viewer_session(app_id: str) -> dict:
    """Make a developer who is a member of the app; return their session cookie."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.viewer_session", app_id],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cookie = json.loads(output.strip().splitlines()[-1])
    return {"cookie": cookie["value"], "name": cookie["name"]}


def create_app_and_schema() -> None:
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


class DashboardReader(HttpUser):
    """A developer with the live stream open: one short poll a second, stats now and then."""

    weight = 1
    wait_time = constant(1.0)

    def on_start(self) -> None:
        if VIEWER.get("pending") is not None:
            VIEWER["pending"].join()
        self.client.cookies.set(VIEWER["name"], VIEWER["cookie"])
        self.page = workload.LivePoll()
        self.polls = 0
        self.base = f"/api/apps/{TARGET['app_id']}"
        with self.client.get(
            f"/apps/{TARGET['app_id']}/live", name="/apps/[app_id]/live", catch_response=True
        ) as response:
            if response.status_code != 200 or "Live stream" not in response.text:
                _unexpected(response, "200 with the live page")
        self.stats()

    @task
    def poll(self) -> None:
        self.polls += 1
        with self.client.get(
            f"{self.base}/events",
            params=self.page.params(),
            name="/api/apps/[app_id]/events?after=",
            catch_response=True,
        ) as response:
            body = _answer(response)
            if response.status_code != 200 or body is None or "events" not in body:
                _unexpected(response, "200 with events")
            else:
                self.page.answered(body)
        if self.polls % STATS_EVERY_POLLS == 0:
            self.stats()

    def stats(self) -> None:
        with self.client.get(
            f"{self.base}/stats",
            params={"range": "1h"},
            name="/api/apps/[app_id]/stats",
            catch_response=True,
        ) as response:
            body = _answer(response)
            if response.status_code != 200 or body is None or "counts" not in body:
                _unexpected(response, "200 with counts")
