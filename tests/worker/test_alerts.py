"""First-seen violation alerts through real workers: one mail and one signed webhook POST
per new error group, none the second time; webhook retries; unsafe targets refused."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from app.auth.accounts import find_user
from app.background import alerts, webhooks
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
        app.extensions["celery"].send_task(WEBHOOK_TASK, args=(delivery_id,))

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
        app.extensions["celery"].send_task(WEBHOOK_TASK, args=(delivery_id,))

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
