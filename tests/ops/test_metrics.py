"""Prometheus metrics: the web tier's counters summed across real gunicorn workers, the
workers' counters served by their main process, and who may scrape /metrics."""

from __future__ import annotations

import json
import re
import tempfile
import time

import pytest
import requests
from prometheus_client import REGISTRY

from app.ops.metrics import FLUSH_SECONDS, tallies
from app.worker.dead_letter import parked_count
from celery_config import SEND_EMAIL_TASK
from tests.ops.conftest import scrape, value
from tests.support.environment import PROJECT_ROOT
from tests.support.factories import USER_LOGIN_SCHEMA, app_with
from tests.support.processes import WorkerPool, wait_for
from tests.support.servers import free_ports_in_a_row, gunicorn

SINGLE_ROUTE = "/api/logs/<app_id>"
BATCH_ROUTE = "/api/logs/<app_id>/batch"
VALID = {"eventName": "user_login", "userId": 1}
INVALID = {"eventName": "user_login", "userId": "one"}
UNPLANNED = {"eventName": "screen_view"}


def settled(url: str) -> dict:
    """Scrape once every process has added its counts (each does so every FLUSH_SECONDS)."""
    time.sleep(2 * FLUSH_SECONDS)
    return scrape(url)


def counted(name: str, **labels: str) -> float:
    """A counter of this process, with what it tallied so far."""
    tallies.flush()
    return REGISTRY.get_sample_value(name, labels or None) or 0.0


def test_observations_added_per_bucket_equal_observing_one_by_one():
    from prometheus_client import CollectorRegistry, Histogram

    from app.ops.metrics import _Buckets

    registry = CollectorRegistry()
    bounds = (0.001, 0.01, 0.1, 1)
    summed = Histogram("summed", "", buckets=bounds, registry=registry)
    one_by_one = Histogram("one_by_one", "", buckets=bounds, registry=registry)
    values = [0.0005, 0.001, 0.0011, 0.05, 0.1, 0.5, 3, 7, 0.01]
    buckets = _Buckets(summed)
    for observed in values:
        buckets.add(observed)
        one_by_one.observe(observed)
    buckets.write()

    def samples(name: str) -> list[tuple]:
        (family,) = [f for f in registry.collect() if f.name == name]
        return [(s.name.replace(name, ""), s.labels.get("le"), s.value) for s in family.samples]

    assert samples("summed") == samples("one_by_one")
    assert ("_bucket", "0.001", 2.0) in samples("summed")  # le: bounds are inclusive
    assert ("_count", None, len(values)) in samples("summed")


def test_web_counters_are_summed_across_gunicorn_workers(app, make_tracked_app):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    headers = {"X-API-Key": tracked["key"]}
    singles = [VALID] * 12 + [INVALID] * 5 + [UNPLANNED] * 3
    batch = [VALID] * 4 + [INVALID] * 2 + [UNPLANNED]
    with gunicorn() as url:
        before = scrape(f"{url}/metrics")
        for event in singles:  # a new connection each: both workers take some
            answer = requests.post(f"{url}/api/logs/{tracked['id']}", json=event, headers=headers)
            assert answer.status_code == 202, answer.text
        answer = requests.post(
            f"{url}/api/logs/{tracked['id']}/batch", json={"events": batch}, headers=headers
        )
        assert answer.status_code == 202, answer.text
        assert requests.get(f"{url}/no-such-page").status_code == 404
        after = settled(f"{url}/metrics")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("lvd_events_accepted_total", status="valid") == 16
    assert moved("lvd_events_accepted_total", status="invalid") == 7
    assert moved("lvd_events_accepted_total", status="unplanned") == 4
    assert moved("lvd_http_requests_total", route=SINGLE_ROUTE, status="202") == 20
    assert moved("lvd_http_requests_total", route=BATCH_ROUTE, status="202") == 1
    assert moved("lvd_http_requests_total", route="<unmatched>", status="404") == 1
    assert moved("lvd_publish_group_events_sum") == 27
    published = moved("lvd_publish_group_events_count")
    assert 1 <= published <= 21
    assert moved("lvd_publish_duration_seconds_count") == published
    assert moved("lvd_degraded_events_total") == 0
    assert value(after, "lvd_broker_up") == 1
    assert ("lvd_queue_depth", frozenset({("queue", "default")})) in after
    # Present (value() would read a missing sample as 0) and equal to the parked count.
    dead_letter = ("lvd_dead_letter_batches", frozenset())
    assert dead_letter in after
    assert after[dead_letter] == parked_count(app.extensions["celery"])


@pytest.mark.parametrize(
    ("token", "loopback", "remote_addr", "authorization", "status"),
    [
        (None, True, "127.0.0.1", None, 200),
        (None, True, "::1", None, 200),
        (None, True, "10.0.0.7", None, 403),
        (None, False, "127.0.0.1", None, 403),  # production: loopback is not enough
        (None, False, "::1", None, 403),
        ("s3cret", True, "127.0.0.1", None, 401),
        ("s3cret", False, "127.0.0.1", "Bearer s3cret", 200),
        ("s3cret", False, "10.0.0.7", "Bearer wrong", 401),
        ("s3cret", False, "10.0.0.7", "Basic s3cret", 401),
        ("s3cret", False, "10.0.0.7", "Bearer s3cret", 200),
    ],
)
def test_metrics_access(app, monkeypatch, token, loopback, remote_addr, authorization, status):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", token)
    monkeypatch.setitem(app.config, "METRICS_ALLOW_LOOPBACK", loopback)
    headers = {"Authorization": authorization} if authorization else {}
    answer = app.test_client().get(
        "/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote_addr}
    )
    assert answer.status_code == status
    assert ("lvd_events_accepted_total" in answer.get_data(as_text=True)) == (status == 200)


def test_rate_limit_refusals_and_degraded_writes_are_counted(app, make_tracked_app, private_redis):
    limited = make_tracked_app(rate_limit="2/minute")
    refused_before = counted("lvd_ingest_rate_limited_total")
    client = app.test_client()
    answers = [
        client.post(f"/api/logs/{limited['id']}", json=VALID, headers={"X-API-Key": limited["key"]})
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [202, 202, 429, 429, 429]
    assert counted("lvd_ingest_rate_limited_total") == refused_before + 3

    tracked = make_tracked_app()
    config = {"CELERY": {"broker_url": private_redis.url}}
    with app_with(app, config) as degraded_app:
        private_redis.stop()  # the broker is gone: the events are written directly
        degraded_before = counted("lvd_degraded_events_total")
        answer = degraded_app.test_client().post(
            f"/api/logs/{tracked['id']}/batch",
            json={"events": [UNPLANNED] * 3},
            headers={"X-API-Key": tracked["key"]},
        )
        assert answer.status_code == 202 and answer.get_json()["task_id"] is None
        assert counted("lvd_degraded_events_total") == degraded_before + 3
        scraped = degraded_app.test_client().get("/metrics").get_data(as_text=True)
        assert "lvd_broker_up 0.0" in scraped


def test_metrics_turned_off_count_nothing_and_scrape_answers_404(app, make_tracked_app):
    tracked = make_tracked_app(schemas={"user_login": USER_LOGIN_SCHEMA})
    accepted = "lvd_events_accepted_total"
    with app_with(app, {"METRICS_ENABLED": False}) as quiet_app:
        client = quiet_app.test_client()
        before = {status: counted(accepted, status=status) for status in ("valid", "invalid")}
        published_before = counted("lvd_publish_group_events_count")
        for event in (VALID, INVALID, VALID):
            answer = client.post(
                f"/api/logs/{tracked['id']}", json=event, headers={"X-API-Key": tracked["key"]}
            )
            assert answer.status_code == 202, answer.get_data(as_text=True)
        after = {status: counted(accepted, status=status) for status in ("valid", "invalid")}
        assert after == before
        assert counted("lvd_publish_group_events_count") == published_before
        scraped = client.get("/metrics")
        assert scraped.status_code == 404
        assert "METRICS_ENABLED=false" in scraped.get_data(as_text=True)
    # The same events on the app with metrics move the counters by their statuses.
    for event in (VALID, INVALID, VALID):
        app.test_client().post(
            f"/api/logs/{tracked['id']}", json=event, headers={"X-API-Key": tracked["key"]}
        )
    assert counted(accepted, status="valid") == before["valid"] + 2
    assert counted(accepted, status="invalid") == before["invalid"] + 1
    assert counted("lvd_publish_group_events_count") == published_before + 3


def test_worker_counters_are_served_by_each_pool(app, make_tracked_app, private_redis, smtp_sink):
    base_port = free_ports_in_a_row(2)  # default serves on base_port, emails on base_port + 1
    broker = {"CELERY_BROKER_URL": private_redis.url}
    broker["CELERY_RESULT_BACKEND"] = private_redis.url.replace("/0", "/1")
    metrics_env = {"WORKER_METRICS_PORT": str(base_port)}
    storage = WorkerPool(
        "default",
        env={**broker, **metrics_env, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp()},
    )
    mail = WorkerPool(
        "emails",
        env={
            **broker,
            **metrics_env,
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(),
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_sink.port),
        },
    )
    tracked = make_tracked_app()
    config = {
        "CELERY": {
            "broker_url": private_redis.url,
            "result_backend": broker["CELERY_RESULT_BACKEND"],
        }
    }
    try:
        storage.start()
        mail.start()
        storage_url = f"http://127.0.0.1:{base_port}/metrics"  # index 0: default
        mail_url = f"http://127.0.0.1:{base_port + 1}/metrics"  # index 1: emails
        stored_before = value(scrape(storage_url), "lvd_events_stored_total")
        with app_with(app, config) as queued_app:
            client = queued_app.test_client()
            for _ in range(4):
                answer = client.post(
                    f"/api/logs/{tracked['id']}/batch",
                    json={"events": [UNPLANNED] * 5},
                    headers={"X-API-Key": tracked["key"]},
                )
                assert answer.status_code == 202 and answer.get_json()["task_id"]
            celery_app = queued_app.extensions["celery"]
            for to in ("metrics@example.com", "refuse-metrics@example.com"):
                celery_app.send_task(SEND_EMAIL_TASK, args=(to, "metrics", "<p>hi</p>", "hi"))

        def stored() -> float:
            return value(scrape(storage_url), "lvd_events_stored_total") - stored_before

        wait_for(lambda: stored() >= 20, timeout=30)
        assert stored() == 20

        def mails() -> dict:
            scraped = scrape(mail_url)
            return {o: value(scraped, "lvd_mails_total", outcome=o) for o in ("sent", "failed")}

        wait_for(lambda: sum(mails().values()) >= 2, timeout=30)
        assert mails() == {"sent": 1, "failed": 1}
        scraped = scrape(mail_url)
        assert value(scraped, "lvd_tasks_total", task=SEND_EMAIL_TASK, outcome="success") == 2
        assert value(scraped, "lvd_task_duration_seconds_count", task=SEND_EMAIL_TASK) == 2
        assert smtp_sink.received("metrics@example.com", "metrics")
    finally:
        storage.stop()
        mail.stop()


def test_every_figure_of_the_grafana_dashboard_is_exposed():
    import app.worker.metrics  # noqa: F401  (registers the workers' metrics here too)

    dashboard = json.loads((PROJECT_ROOT / "docs" / "grafana-operations.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\blvd_\w+", target["expr"])
    }
    queried = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in queried}
    exposed = {family.name for family in REGISTRY.collect()}
    exposed |= {  # read from the broker at scrape time
        "lvd_broker_up",
        "lvd_queue_depth",
        "lvd_queue_unacked",
        "lvd_queue_oldest_unacked_seconds",
        "lvd_dead_letter_batches",
        "lvd_set_aside_messages",
    }
    assert len(dashboard["panels"]) >= 12
    assert queried - exposed == set()
