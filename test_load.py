"""Load test: `locust -f test_load.py --host http://127.0.0.1:8000`.

Uses the app named by LVD_APP_ID / LVD_INGEST_KEY, or creates one (with a schema for
`user_login`) through the CLI when they are unset, so a run needs no preparation.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from locust import HttpUser, between, events, task

ROOT = Path(__file__).resolve().parent
TARGET = {"app_id": os.environ.get("LVD_APP_ID"), "key": os.environ.get("LVD_INGEST_KEY")}
SCHEMA = {
    "type": "object",
    "properties": {
        "eventName": {"const": "user_login"},
        "userId": {"type": "integer", "minimum": 1},
        "method": {"enum": ["password", "google", "apple"]},
        "device": {"type": "object", "properties": {"os": {"type": "string"}}},
    },
    "required": ["eventName", "userId"],
}


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
        json.dump(SCHEMA, schema_file)
    _flask("schemas", "set", created["id"], "user_login", schema_file.name)
    os.unlink(schema_file.name)
    TARGET.update(app_id=created["id"], key=created["ingest_key"])


def make_event() -> dict:
    """A realistic mix: mostly valid logins, some invalid, some unplanned events."""
    roll = random.random()
    event = {
        "eventName": "user_login",
        "eventId": str(uuid.uuid4()),
        "userId": random.randint(1, 1_000_000),
        "method": random.choice(["password", "google", "apple"]),
        "device": {"os": random.choice(["ios", "android"]), "appVersion": "4.2.1"},
    }
    if roll < 0.1:
        event["userId"] = str(event["userId"])  # invalid: wrong type
    elif roll < 0.2:
        event["eventName"] = "screen_view"  # unplanned: no schema
        event["screen"] = random.choice(["home", "cart", "checkout"])
    return event


class MobileAppUser(HttpUser):
    """A mobile app sending single events."""

    wait_time = between(0.05, 0.2)

    @task
    def send_event(self) -> None:
        with self.client.post(
            f"/api/logs/{TARGET['app_id']}",
            json=make_event(),
            headers={"X-API-Key": TARGET["key"]},
            name="/api/logs/[app_id]",
            catch_response=True,
        ) as response:
            if response.status_code != 202:
                response.failure(f"expected 202, got {response.status_code}: {response.text[:200]}")
