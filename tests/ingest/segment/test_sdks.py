"""The real Segment SDKs (Python and Node) and the mobile wire shape, against gunicorn and a
real `default` worker pool: every call stored exactly once, each batch sent once, no key
in the access log."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from tests.ingest.segment.conftest import basic_auth, stored_messages
from tests.support.environment import PROJECT_ROOT
from tests.support.processes import wait_for
from tests.support.servers import gunicorn

NODE_SDK = PROJECT_ROOT / "tests" / "sdk" / "node"
TRACKS = 250


class AccessLog:
    """Gunicorn's access log file; `since()` gives the lines written after a mark."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mark = 0

    def start(self) -> None:
        self.mark = self.path.stat().st_size

    def since(self) -> list[str]:
        with self.path.open("rb") as log:
            log.seek(self.mark)
            return log.read().decode(errors="replace").splitlines()


@pytest.fixture(scope="module")
def server(default_worker):
    """gunicorn (access log to a file) in front of the session's `default` pool."""
    log_path = Path(tempfile.mkstemp(prefix="segment-access-", suffix=".log")[1])
    with gunicorn(env={"GUNICORN_ACCESS_LOG": str(log_path)}, workers=2) as url:
        yield url, AccessLog(log_path)


def wait_for_stored(app, app_id: str, count: int) -> list[dict]:
    """The app's stored events once there are `count` of them (and no more come)."""
    rows = wait_for(
        lambda: len(found := stored_messages(app, app_id)) >= count and found, timeout=60
    )
    return rows


def batch_posts(lines: list[str], path: str) -> list[str]:
    return [line for line in lines if f'"POST {path} ' in line]


def assert_stored_once_each_batch_sent_once(app, tracked, log: AccessLog, path: str) -> list[dict]:
    """Every call stored once (one row per messageId), and as many requests reached the
    server as batches were stored: a batch sent twice would add a request and no row."""
    rows = wait_for_stored(app, tracked["id"], TRACKS + 2)
    message_ids = [row["client_event_id"] for row in rows]
    assert len(rows) == TRACKS + 2
    assert None not in message_ids and len(set(message_ids)) == len(rows)
    names = sorted({row["event_name"] for row in rows})
    assert names == ["Signed Up", "identify", "page"]
    assert sum(row["event_name"] == "Signed Up" for row in rows) == TRACKS
    posts = batch_posts(log.since(), path)
    assert posts and all('" 200 ' in line for line in posts), posts
    assert len(posts) == len({row["received_at"] for row in rows})  # one arrival per batch
    assert tracked["key"] not in "\n".join(log.since())
    return rows


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_the_python_sdk_sends_every_call_once(app, make_tracked_app, server, compressed):
    import segment.analytics as analytics

    url, log = server
    tracked = make_tracked_app()
    failures = []
    analytics.write_key = tracked["key"]
    analytics.host = url
    analytics.sync_mode = False
    analytics.gzip = compressed
    analytics.max_retries = 3
    analytics.on_error = lambda error, batch: failures.append((error, len(batch)))
    analytics.default_client = None  # a fresh client with these settings
    log.start()
    try:
        for index in range(TRACKS):
            analytics.track(
                f"py-user-{index % 7}",
                "Signed Up",
                {"plan": "pro", "index": index},
                context={"testRun": "py-run"},
            )
        analytics.identify("py-user-1", {"email": "py@example.test"})
        analytics.page("py-user-1", name="Home")
        analytics.flush()
    finally:
        analytics.shutdown()
        analytics.default_client = None
    assert failures == []
    rows = assert_stored_once_each_batch_sent_once(app, tracked, log, "/v1/batch")
    track = next(row for row in rows if row["event_name"] == "Signed Up")
    assert track["payload"]["context"]["testRun"] == "py-run"
    assert track["payload"]["context"]["library"]["name"] == "analytics-python"
    assert track["client_ts"] is not None


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """The pinned @segment/analytics-node (package-lock.json), installed on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node SDK test")
    if not (NODE_SDK / "node_modules" / "@segment" / "analytics-node").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_SDK, check=True, timeout=300
        )
    return Path(node)


def test_the_node_sdk_sends_every_call_once(app, make_tracked_app, server, node_sdk):
    url, log = server
    tracked = make_tracked_app()
    log.start()
    result = subprocess.run(
        [str(node_sdk), "send.js", url, tracked["key"], "node-run"],
        cwd=NODE_SDK,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = assert_stored_once_each_batch_sent_once(app, tracked, log, "/v1/batch")
    track = next(row for row in rows if row["event_name"] == "Signed Up")
    assert track["payload"]["context"]["testRun"] == "node-run"
    assert track["payload"]["context"]["library"]["name"] == "@segment/analytics-node"


def test_the_mobile_shape_gzip_text_plain_basic_auth_on_v1_b(app, make_tracked_app, server):
    url, log = server
    tracked = make_tracked_app()
    batch = {
        "batch": [
            {
                "type": "screen",
                "name": "Home",
                "anonymousId": "device-1",
                "messageId": str(uuid.uuid4()),
                "timestamp": "2024-03-01T12:00:00.000Z",
            },
            {
                "type": "track",
                "event": "Opened",
                "anonymousId": "device-1",
                "messageId": str(uuid.uuid4()),
                "timestamp": "2024-03-01T12:00:01.000Z",
            },
        ],
        "sentAt": "2024-03-01T12:00:05.000Z",
        "context": {"os": {"name": "iOS"}},
    }
    headers = {
        **basic_auth(tracked["key"]),
        "Content-Type": "text/plain",
        "Content-Encoding": "gzip",
    }
    body = gzip.compress(json.dumps(batch).encode())
    log.start()
    for _ in range(2):  # a retry after a lost answer: stored once
        answer = requests.post(f"{url}/v1/b", data=body, headers=headers, timeout=10)
        assert answer.status_code == 200
        assert answer.json() == {"success": True}
    settings = requests.get(f"{url}/v1/projects/{tracked['key']}/settings", timeout=10)
    assert settings.status_code == 200
    assert settings.json()["integrations"]["Segment.io"]["apiHost"].endswith("/v1")
    rows = wait_for_stored(app, tracked["id"], 2)
    assert sorted(row["event_name"] for row in rows) == ["Opened", "screen"]
    assert all(row["payload"]["context"]["os"] == {"name": "iOS"} for row in rows)
    # The access log names the requests but never the key (Basic user, settings path).
    lines = log.since()
    assert len(batch_posts(lines, "/v1/b")) == 2
    assert any("/v1/projects/-/settings" in line for line in lines), lines
    text = "\n".join(lines)
    assert tracked["key"] not in text
    encoded = base64.b64encode(f"{tracked['key']}:".encode()).decode()
    assert encoded not in text
    wait_for(lambda: len(stored_messages(app, tracked["id"])) == 2, timeout=5)
