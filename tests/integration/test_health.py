"""GET /health with everything up: 200, database and broker ok, and the running `default`
worker listed under its queue (from the heartbeat it writes to the database)."""

from __future__ import annotations

from tests.support import wait_for


def test_health_ok_lists_the_running_default_worker(client, default_worker):
    def worker_listed():
        answer = client.get("/health")
        body = answer.get_json()
        if default_worker.hostname in body["workers"]["default"]:
            return answer, body
        return None

    answer, body = wait_for(worker_listed, timeout=15, interval=0.5)
    assert answer.status_code == 200
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert set(body["workers"]) == {"default", "emails", "batch_processing"}
    assert isinstance(body["workers"]["emails"], list)
    assert isinstance(body["workers"]["batch_processing"], list)
    assert default_worker.hostname not in body["workers"]["emails"]
    assert default_worker.hostname not in body["workers"]["batch_processing"]
