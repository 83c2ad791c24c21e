"""Flower, started with start_flower.sh: basic auth from the environment, the four pools
and their queues listed through the project's Redis transport, and no task events from
the storage pool while the emails pool sends them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil
import redis
import requests

from celery_config import SEND_EMAIL_TASK, SUMMARIZE_APP_TASK
from tests.ops.conftest import ScriptPool
from tests.support.environment import PROJECT_ROOT
from tests.support.factories import app_with
from tests.support.processes import wait_for
from tests.support.servers import free_port

AUTH = ("ops", "flower-secret-1")
POOLS = ("default", "emails", "batch_processing", "emails_priority")


@contextlib.contextmanager
def flower(env: dict):
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="flower-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", str(PROJECT_ROOT / "start_flower.sh")],
            cwd=PROJECT_ROOT,
            env={**env, "FLOWER_PORT": str(port), "PYTHON": sys.executable},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or _answers(url), timeout=60)
        assert proc.poll() is None, log.read_text()
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthcheck", timeout=2).status_code == 200
    except requests.RequestException:
        return False


class EventTap:
    """Every Celery event published on a Redis broker: (type, hostname) pairs."""

    def __init__(self, url: str) -> None:
        self.pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("*celeryev*")
        self.seen: list[tuple[str, str]] = []
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        with contextlib.suppress(redis.RedisError, ValueError):  # closed by close()
            self._record_all()

    def _record_all(self) -> None:
        for message in self.pubsub.listen():
            envelope = json.loads(message["data"])
            body = envelope["body"]
            if envelope.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            for event in _events(json.loads(body)):
                self.seen.append((event.get("type", ""), event.get("hostname", "")))

    def task_events_from(self, hostname: str) -> list[str]:
        return [kind for kind, host in self.seen if kind.startswith("task-") and host == hostname]

    def close(self) -> None:
        self.pubsub.close()


def _events(body: object) -> list[dict]:
    return body if isinstance(body, list) else [body]  # grouped events arrive as a list


def test_flower_refuses_to_start_without_basic_auth():
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    result = subprocess.run(
        ["bash", str(PROJECT_ROOT / "start_flower.sh")],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "FLOWER_BASIC_AUTH" in result.stderr


def test_flower_lists_every_pool_and_storage_sends_no_task_events(
    app, make_tracked_app, private_redis, smtp_sink
):
    results_url = private_redis.url.replace("/0", "/1")
    env = {
        **os.environ,
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_RESULT_BACKEND": results_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_sink.port),
        "WORKER_DEFAULT_CONCURRENCY": "1",
        "WORKER_EMAILS_CONCURRENCY": "1",
    }
    tap = EventTap(private_redis.url)
    pools = [ScriptPool(pool, env) for pool in POOLS]
    tracked = make_tracked_app()
    try:
        for pool in pools:
            pool.start()
            with_events = "--task-events" in psutil.Process(pool.proc.pid).cmdline()
            assert with_events == (pool.queue != "default")
        with flower({**env, "FLOWER_BASIC_AUTH": ":".join(AUTH)}) as url:
            assert requests.get(f"{url}/api/workers", timeout=10).status_code == 401
            assert requests.get(f"{url}/healthcheck", timeout=10).text == "OK"  # no auth
            assert requests.get(f"{url}/metrics", timeout=10).status_code == 200  # no auth

            def workers() -> dict:
                answer = requests.get(f"{url}/api/workers?refresh=1", auth=AUTH, timeout=30)
                assert answer.status_code == 200, answer.text
                listed = answer.json()
                return listed if all(p.hostname in listed for p in pools) else {}

            listed = wait_for(workers, timeout=30, interval=1)
            for pool in pools:
                queues = {q["name"] for q in listed[pool.hostname]["active_queues"]}
                assert queues == {pool.queue}

            lengths = requests.get(f"{url}/api/queues/length", auth=AUTH, timeout=10).json()
            assert {q["name"] for q in lengths["active_queues"]} == set(POOLS)

            config = {"CELERY": {"broker_url": private_redis.url, "result_backend": results_url}}
            with app_with(app, config) as queued_app:
                client = queued_app.test_client()
                answer = client.post(
                    f"/api/logs/{tracked['id']}",
                    json={"eventName": "screen_view"},
                    headers={"X-API-Key": tracked["key"]},
                )
                assert answer.status_code == 202
                celery_app = queued_app.extensions["celery"]
                mail = celery_app.send_task(SEND_EMAIL_TASK, args=("fl@example.com", "s", "h", "t"))
                summary = celery_app.send_task(SUMMARIZE_APP_TASK, args=(tracked["id"], 1))
                storage_task = answer.get_json()["task_id"]

                def finished(task_id: str) -> bool:
                    return celery_app.AsyncResult(task_id).state == "SUCCESS"

                for task_id in (mail.id, summary.id, storage_task):
                    wait_for(lambda task_id=task_id: finished(task_id), timeout=30)

            def tasks_seen() -> dict:
                answer = requests.get(f"{url}/api/tasks", auth=AUTH, timeout=10).json()
                return answer if {mail.id, summary.id} <= set(answer) else {}

            seen = wait_for(tasks_seen, timeout=30, interval=1)
            assert storage_task not in seen
    finally:
        for pool in pools:
            pool.stop()
        tap.close()
    hostnames = {pool.queue: pool.hostname for pool in pools}
    assert tap.task_events_from(hostnames["emails"]), tap.seen
    assert tap.task_events_from(hostnames["batch_processing"]), tap.seen
    assert tap.task_events_from(hostnames["default"]) == [], "the storage pool sent task events"
