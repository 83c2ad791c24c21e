"""One-time codes go ahead of bulk mail: with 2,000 bulk mails queued on `emails` and a
real `emails` pool sending them to a real SMTP sink, a login code, queued on
`emails_priority` and sent by that queue's own pool, reaches the sink while nearly the
whole flood still waits."""

from __future__ import annotations

import time

import redis

from celery_config import EMAIL_PRIORITY_QUEUE, EMAIL_QUEUE, SEND_EMAIL_TASK
from tests.accounts import Web, landed
from tests.support.factories import app_with
from tests.support.processes import WorkerPool, wait_for

FLOOD = 2000


def bulk_delivered(sink) -> int:
    with sink.lock:
        return sum(1 for rcpts, _message in sink.messages if rcpts[0].startswith("bulk-"))


def test_login_code_overtakes_two_thousand_bulk_mails(app, make_user, private_redis, smtp_sink):
    results_url = private_redis.url.replace("/0", "/1")
    env = {
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_RESULT_BACKEND": results_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_sink.port),
    }
    bulk_pool = WorkerPool(EMAIL_QUEUE, concurrency=2, env=env)
    priority_pool = WorkerPool(EMAIL_PRIORITY_QUEUE, concurrency=1, env=env)
    address = make_user()
    broker = redis.Redis.from_url(private_redis.url)
    config = {
        "CELERY": {"broker_url": private_redis.url, "result_backend": results_url},
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_sink.port,
    }
    try:
        with app_with(app, config) as mail_app:
            celery_app = mail_app.extensions["celery"]
            with celery_app.producer_or_acquire() as producer:
                for number in range(FLOOD):
                    celery_app.send_task(
                        SEND_EMAIL_TASK,
                        args=(f"bulk-{number}@example.com", "Weekly digest", "<p>d</p>", "d"),
                        producer=producer,
                    )
            assert broker.llen(EMAIL_QUEUE) == FLOOD
            bulk_pool.start()
            priority_pool.start()
            wait_for(lambda: bulk_delivered(smtp_sink), timeout=60)  # flood flows

            web = Web(mail_app.test_client())
            asked = time.monotonic()
            answer = web.submit(
                "/auth/login", {"email": address, "password": "correct horse battery"}
            )
            assert landed(answer) == "/auth/otp"
            smtp_sink.wait_for(address, "login code", timeout=60)
            seconds = time.monotonic() - asked
            bulk_waiting = broker.llen(EMAIL_QUEUE)
            bulk_sent = bulk_delivered(smtp_sink)
    finally:
        bulk_pool.stop()
        priority_pool.stop()
    print(f"login code delivered {seconds:.2f} s after the request; {bulk_sent} bulk sent")
    # The code did not wait its turn: most of the flood was still queued when it arrived.
    assert bulk_waiting > FLOOD // 2, (bulk_waiting, seconds)
    assert bulk_sent < FLOOD // 2
