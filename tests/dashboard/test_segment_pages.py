"""Segment messages on the pages: the event page shows the call and both times; the plan
page says how to send from Segment's SDKs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from app.extensions import db
from tests.accounts import page
from tests.support.factories import app_with


def test_the_event_page_shows_the_segment_call_users_and_both_timestamps(app, team):
    happened = datetime(2024, 3, 1, 12, 0, 0).astimezone()
    message = {
        "type": "track",
        "event": "Signed Up",
        "userId": "user-<42>",
        "anonymousId": "anon-7",
        "messageId": "msg-segment-page",
        "timestamp": happened.isoformat(),
        "sentAt": (happened + timedelta(seconds=30)).isoformat(),
    }
    with app_with(app, {"TESTING": True, "CELERY_ENABLED": False}) as inline_app:
        answer = inline_app.test_client().post(
            "/v1/track", json=message, headers={"X-API-Key": team["key"]}
        )
        assert answer.status_code == 200
    with app.app_context():
        event_id, client_ts = db.session.execute(
            text("SELECT id, client_ts FROM events WHERE client_event_id = 'msg-segment-page'")
        ).one()
        db.session.rollback()
    html = page(team["owner"].get(f"/apps/{team['app_id']}/events/{event_id}"))
    assert "Segment call</dt><dd><code>track</code>" in html
    assert "user-&lt;42&gt;" in html and "anon-7" in html
    assert "msg-segment-page" in html and "messageId</dt>" in html
    # The corrected time (received 30 s after the device says it happened) and the original.
    assert client_ts.isoformat()[:19] in html
    assert f"Device timestamp</dt><dd><code>{happened.isoformat()}</code>" in html
    assert "corrected for the device" in html
    assert "/v1/track" in html  # "send it again" goes back to Segment's route


def test_our_own_events_show_no_segment_facts(app, team):
    with app_with(app, {"TESTING": True, "CELERY_ENABLED": False}) as inline_app:
        answer = inline_app.test_client().post(
            f"/api/logs/{team['app_id']}",
            json={"eventName": "track", "eventId": "own-format", "userId": 1},
            headers={"X-API-Key": team["key"]},
        )
        assert answer.status_code == 202
        event_id = answer.get_json()["event_id"]
    html = page(team["owner"].get(f"/apps/{team['app_id']}/events/{event_id}"))
    assert "Segment call" not in html and "Client eventId" in html


def test_the_tracking_plan_page_says_how_to_send_from_the_sdks(app, team):
    html = page(team["owner"].get(f"/apps/{team['app_id']}/schemas"))
    assert "Send from your SDK" in html
    host = app.config["PUBLIC_URL"]
    assert f'analytics.host = "{host}"' in html
    assert "@segment/analytics-node" in html and f"host: '{host}'" in html
