"""Labels say what happened: empty states by case, a name that got a schema leaves the
Unplanned list, a saved schema is confirmed, a job row names every filter it has."""

from __future__ import annotations

import uuid

import pytest

from app.background.jobs import describe
from tests.accounts import page
from tests.support.factories import stored_events

SCHEMA = {"type": "object", "properties": {"eventName": {"type": "string"}}}


def test_an_app_without_schema_or_events_does_not_claim_every_name_has_a_schema(team):
    html = page(team["owner"].get(f"/apps/{team['app_id']}"))
    assert "Every event name" not in html
    assert "No schema yet, and no unplanned event" in html


def test_a_name_that_got_a_schema_leaves_the_unplanned_list(app, team):
    from app.models import App
    from app.store import catalog

    app_id = team["app_id"]
    stored_events(app, app_id, [{"event_name": "screen_view", "status": "unplanned"}] * 2)
    overview = page(team["owner"].get(f"/apps/{app_id}"))
    assert "create a schema from these examples" in overview and "screen_view" in overview
    with app.app_context():
        catalog.set_schema(App.lookup(app_id), "screen_view", SCHEMA)
    for url in (f"/apps/{app_id}", f"/apps/{app_id}/schemas"):
        html = page(team["owner"].get(url))
        assert 'id="unplanned-names"' not in html  # nothing left to plan
        planned = html[html.index('id="planned-since"') :]
        assert "<code>screen_view</code> (2 older unplanned)" in planned


def test_a_saved_schema_is_confirmed_after_the_reload(team):
    html = page(team["owner"].get(f"/apps/{team['app_id']}/schemas?event=user_login&saved=3"))
    assert "Saved <code>user_login</code> v3" in html


@pytest.mark.parametrize(
    ("kind", "params", "label"),
    [
        ("export", {"format": "csv"}, "all event names, as CSV"),
        ("export", {"format": "csv", "status": "invalid"}, "all event names, invalid only, as CSV"),
        (
            "export",
            {"format": "ndjson", "event_name": "user_login", "status": "valid"},
            "user_login, valid only, as NDJSON",
        ),
        ("revalidate", {"event_name": "user_login", "schema_version": 2}, "user_login, against v2"),
    ],
)
def test_a_job_row_names_its_filters(kind, params, label):
    assert describe(kind, params) == label


def test_the_export_job_row_on_the_page_names_its_status_filter(app, team):
    from datetime import UTC, datetime, timedelta

    from app.background import exports

    now = datetime.now(UTC)
    with app.app_context():
        exports.start_export(
            uuid.UUID(team["app_id"]), now - timedelta(days=1), now, "csv", status="invalid"
        )
        from app.extensions import db

        db.session.commit()
    html = page(team["owner"].get(f"/apps/{team['app_id']}/export"))
    assert "all event names, invalid only, as CSV" in html
