"""First-seen violation alerts through real workers: one mail and one signed webhook POST
per new error group, none the second time; webhook retries; unsafe targets refused."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from app.auth.accounts import find_user
from app.background import alert_outbox, alerts, webhooks
from app.background.pinned_post import post_to_address
from app.extensions import db
from app.models import WebhookDelivery
from app.store import memberships
from celery_config import SUMMARIZE_APP_TASK, WEBHOOK_TASK
from tests.background import (
    WebhookReceiver,
    invalid_errors,
    run_on_worker,
    store_at,
    verify_signature,
)
from tests.support.processes import wait_for


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.stop()


def _member_with_alerts(app, app_id: str, email: str, kinds=("alerts",)) -> None:
    with app.app_context():
        user = find_user(email)
        memberships.add(uuid.UUID(app_id), user)
        for kind in kinds:
            alerts.set_choice(uuid.UUID(app_id), user.id, kind, True)


def _roll_up_on_worker(app, app_id: str) -> dict:
    return run_on_worker(app, SUMMARIZE_APP_TASK, app_id, 1)


def test_a_new_group_alerts_once_by_mail_and_signed_webhook(
    app, make_tracked_app, make_user, smtp_sink, batch_worker, emails_worker, receiver
):
    target = make_tracked_app()
    subscribed, not_subscribed = make_user(), make_user()
    _member_with_alerts(app, target["id"], subscribed)
    _member_with_alerts(app, target["id"], not_subscribed, kinds=())
    with app.app_context():
        secret = webhooks.set_webhook(uuid.UUID(target["id"]), receiver.url, allow_private=True)
        event = store_at(
            target["id"],
            datetime.now(UTC),
            status="invalid",
            errors=invalid_errors(("/userId", "type")),
            schema_version=1,
        )

    first = _roll_up_on_worker(app, target["id"])
    assert first["alerts"] == {"groups": 1, "mails": 1, "webhooks": 1}
    mail = smtp_sink.wait_for(subscribed, "new validation error")
    text = mail.get_body(("plain",)).get_content()
    assert "/userId" in text and event["id"] in text and "opt-out" in text
    # The example links to its event's detail page, in both parts of the mail.
    detail = f"/apps/{target['id']}/events/{event['id']}"
    assert detail in text
    assert f'href="http://127.0.0.1:8000{detail}"' in mail.get_body(("html",)).get_content()
    wait_for(lambda: receiver.requests, timeout=30)
    headers, body = receiver.requests[0]
    assert verify_signature(secret, headers, body)
    assert not verify_signature("whsec_wrong", headers, body)
    payload = json.loads(body)
    assert payload["type"] == "violation.first_seen"
    assert payload["group"]["path"] == "/userId" and payload["group"]["keyword"] == "type"

    # The same group again: rolled up, but no second alert of any kind.
    with app.app_context():
        store_at(
            target["id"],
            datetime.now(UTC),
            status="invalid",
            errors=invalid_errors(("/userId", "type")),
            schema_version=1,
        )
    second = _roll_up_on_worker(app, target["id"])
    assert second["alerts"] == {"groups": 0, "mails": 0, "webhooks": 0}
    assert second["error_groups"][0]["count"] == 2
    time.sleep(2)  # anything wrongly queued would have arrived by now
    assert len(smtp_sink.received(subscribed, "new validation error")) == 1
    assert smtp_sink.received(not_subscribed) == []
    assert len(receiver.requests) == 1
    with app.app_context():
        shown = webhooks.recent_deliveries(uuid.UUID(target["id"]))
        assert [(d.status, d.attempts, d.response_code) for d in shown] == [("delivered", 1, 200)]


def test_a_webhook_answering_500_twice_is_delivered_on_the_third_try(
    app, make_tracked_app, emails_worker
):
    receiver = WebhookReceiver(codes=[500, 500, 200])
    target = make_tracked_app()
    try:
        with app.app_context():
            secret = webhooks.set_webhook(uuid.UUID(target["id"]), receiver.url, True)
            delivery_id = webhooks.add_delivery(uuid.UUID(target["id"]), "webhook.test", {})
            db.session.commit()
            assert alert_outbox.queue_webhook(delivery_id)

        def delivered():
            with app.app_context():
                delivery = db.session.get(WebhookDelivery, delivery_id)
                return delivery.status == "delivered" and delivery

        delivery = wait_for(delivered, timeout=60)
        assert (delivery.attempts, delivery.response_code) == (3, 200)
        assert len(receiver.requests) == 3
        assert all(verify_signature(secret, h, b) for h, b in receiver.requests)
        assert len({b for _h, b in receiver.requests}) == 1  # the same body each time
    finally:
        receiver.stop()


def test_a_webhook_that_keeps_failing_is_given_up(app, make_tracked_app, emails_worker):
    receiver = WebhookReceiver(codes=[503] * 10)
    target = make_tracked_app()
    try:
        with app.app_context():
            webhooks.set_webhook(uuid.UUID(target["id"]), receiver.url, True)
            delivery_id = webhooks.add_delivery(uuid.UUID(target["id"]), "webhook.test", {})
            db.session.commit()
            assert alert_outbox.queue_webhook(delivery_id)

        def gave_up():
            with app.app_context():
                delivery = db.session.get(WebhookDelivery, delivery_id)
                return delivery.status == "failed" and delivery

        delivery = wait_for(gave_up, timeout=60)
        assert delivery.attempts == app.config["WEBHOOK_MAX_ATTEMPTS"] == 5
        assert len(receiver.requests) == 5
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://user:pw@example.com/hook",
        "http:///no-host",
    ],
)
def test_unsafe_webhook_targets_are_refused(url):
    with pytest.raises(webhooks.UnsafeWebhookTarget):
        webhooks.check_target(url, allow_private=False)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:c0a8:1::1", False),  # 6to4 of 192.168.0.1
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:8.8.8.8", True),
        ("::ffff:0:7f00:1", False),  # IPv4-translated
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("::8.8.8.8", False),
        ("fec0::1", False),  # site-local (deprecated)
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("fd00::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
    ],
)
def test_an_address_holding_an_ipv4_is_judged_by_it_or_refused(address, public):
    url = f"http://[{address}]/hook" if ":" in address else f"http://{address}/hook"
    if public:
        assert webhooks.check_target(url, allow_private=False) == [address]
    else:
        with pytest.raises(webhooks.UnsafeWebhookTarget, match="loopback or private"):
            webhooks.check_target(url, allow_private=False)


def test_private_targets_are_allowed_when_the_operator_says_so():
    assert webhooks.check_target("http://127.0.0.1:8000/hook", allow_private=True) == ["127.0.0.1"]
    with pytest.raises(webhooks.UnsafeWebhookTarget, match="http"):
        webhooks.check_target("gopher://127.0.0.1/", allow_private=True)


def test_a_delivery_connects_to_the_checked_address_not_to_a_new_resolution(receiver):
    """The POST goes to the address the check saw, naming the host only in `Host`: a
    host that cannot be resolved (here .invalid) is never looked up again."""
    port = receiver.server.server_address[1]
    response = post_to_address(
        f"http://hook.invalid:{port}/hook?x=1", "127.0.0.1", data=b"{}", timeout=5
    )
    assert response.status_code == 200
    headers, body = receiver.requests[0]
    assert headers["Host"] == f"hook.invalid:{port}" and body == b"{}"


def test_an_alert_whose_queueing_failed_is_queued_by_the_maintenance(
    app, make_tracked_app, make_user, smtp_sink, emails_worker, receiver
):
    """The broker is down when the groups are claimed: the claim stands, and its mail and
    webhook, recorded with it, are queued by the next maintenance run, once each."""
    from datetime import timedelta

    from app.background import maintenance
    from app.store.rollups import compute as rollups
    from tests.support.factories import app_with
    from tests.support.servers import free_port

    target = make_tracked_app()
    subscribed = make_user()
    _member_with_alerts(app, target["id"], subscribed)
    app_id = uuid.UUID(target["id"])
    with app.app_context():
        webhooks.set_webhook(app_id, receiver.url, allow_private=True)
        store_at(
            target["id"],
            datetime.now(UTC),
            status="invalid",
            errors=invalid_errors(("/userId", "type")),
            schema_version=1,
        )
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    with app_with(app, {"CELERY": {"broker_url": dead_broker}}) as cut_off, cut_off.app_context():
        rollups.roll_up(app_id, 1)
        queued = alerts.alert_new_groups(app_id)
    assert queued == {"groups": 1, "mails": 0, "webhooks": 0}
    with app.app_context():
        assert alerts.alert_new_groups(app_id) == {"groups": 0, "mails": 0, "webhooks": 0}
        later = datetime.now(UTC) + timedelta(minutes=11)  # past the chain's first lease
        outcome = maintenance.maintain(1000, now=later)
    assert (outcome["requeued_mails"], outcome["requeued_deliveries"]) == (1, 1)
    smtp_sink.wait_for(subscribed, "new validation error")
    wait_for(lambda: receiver.requests, timeout=30)
    with app.app_context():
        again = maintenance.maintain(1000, now=later)
    assert (again["requeued_mails"], again["requeued_deliveries"]) == (0, 0)
    time.sleep(2)  # anything queued twice would have arrived by now
    assert len(smtp_sink.received(subscribed, "new validation error")) == 1
    assert len(receiver.requests) == 1


def test_a_requeued_delivery_has_one_retry_chain(app, make_tracked_app):
    """A delivery requeued after its lease ran out, while its first message still waited:
    that message sends nothing, and the new chain alone POSTs, on its schedule."""
    from datetime import timedelta

    import redis

    from tests.support.environment import TEST_REDIS_URL
    from tests.support.factories import app_with
    from tests.support.processes import WorkerPool

    broker_url = f"{TEST_REDIS_URL}/15"  # a broker of this test's own
    redis.Redis.from_url(broker_url).flushdb()
    receiver = WebhookReceiver(codes=[500])
    target = make_tracked_app()
    app_id = uuid.UUID(target["id"])
    celery = {"broker_url": broker_url, "result_backend": broker_url}
    # A retry 60 s away: a second chain would show as a second POST at once.
    env = {
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": broker_url,
        "WEBHOOK_RETRY_BACKOFF": "60",
    }
    worker = WorkerPool("emails", concurrency=1, env=env)
    try:
        with app_with(app, {"CELERY": celery}) as web, web.app_context():
            webhooks.set_webhook(app_id, receiver.url, True)
            delivery_id = webhooks.add_delivery(app_id, "webhook.test", {})
            db.session.commit()
            first_chain = db.session.get(WebhookDelivery, delivery_id).chain
            waiting = web.extensions["celery"].send_task(
                WEBHOOK_TASK, args=(delivery_id, first_chain)
            )
            # Nothing consumed it for longer than the lease: the maintenance requeues it.
            later = datetime.now(UTC) + timedelta(minutes=11)
            assert alert_outbox.requeue_lost(later)["requeued_deliveries"] == 1
            assert alert_outbox.requeue_lost(later)["requeued_deliveries"] == 0  # leased now
            worker.start()
            assert waiting.get(timeout=60)["status"] == "superseded"

            def attempted():
                db.session.rollback()
                return db.session.get(WebhookDelivery, delivery_id).attempts >= 1

            wait_for(attempted, timeout=60)
            time.sleep(2)  # a second chain's POST would have arrived by now
            assert len(receiver.requests) == 1
            delivery = db.session.get(WebhookDelivery, delivery_id)
            assert (delivery.status, delivery.attempts) == ("retrying", 1)
            assert delivery.chain != first_chain
            lease = delivery.lease_until.replace(tzinfo=delivery.lease_until.tzinfo or UTC)
            assert lease > datetime.now(UTC) + timedelta(seconds=60)  # alive past its retry
            assert alert_outbox.requeue_lost(datetime.now(UTC))["requeued_deliveries"] == 0
    finally:
        worker.stop()
        receiver.stop()
        redis.Redis.from_url(broker_url).flushdb()
