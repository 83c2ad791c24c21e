"""/api/apps/<app_id>/…: members read their app's events, stats and errors; nobody else."""

from __future__ import annotations

import uuid

import pytest

from tests.support.factories import USER_LOGIN_SCHEMA, stored_events

TYPE_ERROR = {"path": "/userId", "keyword": "type", "message": '"x" is not of type "integer"'}
REQUIRED_ERROR = {"path": "/userId", "keyword": "required", "message": "userId is required"}

READ_ENDPOINTS = [
    "/api/apps/{app}/events",
    "/api/apps/{app}/events/{event}",
    "/api/apps/{app}/stats?range=1h",
    "/api/apps/{app}/errors?range=24h",
    "/api/apps/{app}/schemas",
    "/api/apps/{app}/schemas/user_login/versions",
    "/api/apps/{app}/schemas/user_login/diff?from=1&to=1",
]
POST_ENDPOINTS = [
    ("/api/apps/{app}/schemas/try", {"schema": {"type": "object"}, "payload": {}}),
    ("/api/apps/{app}/schemas/infer", {"event_name": "user_login"}),
    ("/api/apps/{app}/schemas/impact", {"event_name": "user_login", "schema": True}),
    ("/api/apps/{app}/schemas", {"event_name": "user_login", "schema": USER_LOGIN_SCHEMA}),
]


@pytest.fixture
def seeded(app, team):
    """The team's app with a user_login schema and one valid event."""
    from app.models import App
    from app.store import catalog

    with app.app_context():
        catalog.set_schema(App.lookup(team["app_id"]), "user_login", USER_LOGIN_SCHEMA)
    [event_id] = stored_events(app, team["app_id"], [{"payload": {"eventName": "user_login"}}])
    return {**team, "event_id": event_id}


@pytest.mark.parametrize("template", READ_ENDPOINTS)
def test_read_endpoints_answer_members_only(app, seeded, template):
    url = template.format(app=seeded["app_id"], event=seeded["event_id"])
    assert seeded["owner"].get(url).status_code == 200
    refused = seeded["stranger"].get(url)
    assert refused.status_code == 404 and seeded["event_id"] not in refused.get_data(True)
    logged_out = app.test_client().get(url)
    assert logged_out.status_code == 401
    assert logged_out.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize(("template", "body"), POST_ENDPOINTS)
def test_post_endpoints_answer_members_only_and_need_the_csrf_token(app, seeded, template, body):
    url = template.format(app=seeded["app_id"])
    owner = seeded["owner"]
    token = owner.csrf(f"/apps/{seeded['app_id']}")
    assert owner.client.post(url, json=body).status_code == 400  # no CSRF token
    answer = owner.client.post(url, json=body, headers={"X-CSRFToken": token})
    assert answer.status_code in (200, 201), answer.get_json()
    stranger = seeded["stranger"]
    stranger_token = stranger.csrf("/apps")
    refused = stranger.client.post(url, json=body, headers={"X-CSRFToken": stranger_token})
    assert refused.status_code == 404
    assert app.test_client().post(url, json=body).status_code in (400, 401)


def test_another_apps_event_is_not_found_through_my_app(app, seeded, make_tracked_app):
    other = make_tracked_app()
    [foreign] = stored_events(app, other["id"], [{}])
    answer = seeded["owner"].get(f"/api/apps/{seeded['app_id']}/events/{foreign}")
    assert answer.status_code == 404
    assert seeded["owner"].get(f"/api/apps/{seeded['app_id']}/events/not-a-uuid").status_code == 404


def test_stream_is_newest_first_and_the_cursor_returns_only_newer_events(app, team):
    owner, app_id = team["owner"], team["app_id"]
    first = stored_events(app, app_id, [{"event_name": f"e{i}"} for i in range(3)])
    listed = owner.get(f"/api/apps/{app_id}/events").get_json()
    assert [row["id"] for row in listed["events"]] == first[::-1]
    assert listed["cursor"] == first[-1]

    later = stored_events(app, app_id, [{"event_name": "late"}])
    polled = owner.get(f"/api/apps/{app_id}/events?after={listed['cursor']}").get_json()
    assert [row["id"] for row in polled["events"]] == later
    empty = owner.get(f"/api/apps/{app_id}/events?after={later[0]}").get_json()
    assert empty["events"] == [] and empty["cursor"] == later[0]

    page = owner.get(f"/api/apps/{app_id}/events?limit=2").get_json()
    assert [row["id"] for row in page["events"]] == [later[0], first[2]]
    assert page["next_before"] == first[2]
    older = owner.get(f"/api/apps/{app_id}/events?before={page['next_before']}").get_json()
    assert [row["id"] for row in older["events"]] == [first[1], first[0]]


def test_stream_filters_by_status_name_and_payload_text(app, team):
    owner, app_id = team["owner"], team["app_id"]
    ids = stored_events(
        app,
        app_id,
        [
            {"event_name": "checkout", "payload": {"eventName": "checkout", "sku": "RED_SHOE"}},
            {
                "event_name": "checkout",
                "status": "invalid",
                "errors": [TYPE_ERROR],
                "payload": {"eventName": "checkout", "sku": "blue%hat"},
            },
            {"event_name": "screen", "status": "unplanned"},
        ],
    )
    base = f"/api/apps/{app_id}/events"

    def ids_of(query: str) -> list[str]:
        return [row["id"] for row in owner.get(f"{base}?{query}").get_json()["events"]]

    assert ids_of("status=invalid") == [ids[1]]
    assert ids_of("event=checkout") == [ids[1], ids[0]]
    assert ids_of("q=red_shoe") == [ids[0]]  # case-insensitive, _ is literal
    assert ids_of("q=blue%25hat&range=1h") == [ids[1]]
    assert ids_of("q=bluexhat") == []
    row = owner.get(f"{base}?status=invalid").get_json()["events"][0]
    assert row["first_error"] == TYPE_ERROR and row["error_count"] == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=broken", "status must be one of"),
        ("limit=0", "limit must be between"),
        ("limit=x", "limit must be an integer"),
        ("after=nope", "after must be an event id"),
        ("range=2y", "range must be one of"),
    ],
)
def test_bad_stream_queries_get_a_clear_400(team, query, message):
    answer = team["owner"].get(f"/api/apps/{team['app_id']}/events?{query}")
    assert answer.status_code == 400
    assert message in answer.get_json()["message"]


def test_stats_equal_the_stored_events(app, team):
    owner, app_id = team["owner"], team["app_id"]
    stored_events(
        app,
        app_id,
        [{"status": "valid"}] * 3
        + [{"status": "invalid", "errors": [TYPE_ERROR], "event_name": "pay"}] * 2
        + [{"status": "unplanned", "event_name": "mystery"}],
    )
    answer = owner.get(f"/api/apps/{app_id}/stats?range=1h").get_json()
    assert answer["counts"] == {"valid": 3, "invalid": 2, "unplanned": 1}
    series = answer["series"]
    assert series["bucket_seconds"] == 60 and len(series["t"]) in (60, 61)
    assert (sum(series["valid"]), sum(series["invalid"]), sum(series["unplanned"])) == (3, 2, 1)
    assert [n["event_name"] for n in answer["top_failing"]] == ["pay"]
    assert answer["unplanned"][0] == {**answer["unplanned"][0], "event_name": "mystery", "count": 1}
    week = owner.get(f"/api/apps/{app_id}/stats?range=7d").get_json()
    assert week["series"]["bucket_seconds"] == 3600 and sum(week["series"]["valid"]) == 3


def test_errors_are_grouped_by_name_path_and_keyword_with_examples(app, team):
    owner, app_id = team["owner"], team["app_id"]
    ids = stored_events(
        app,
        app_id,
        [{"status": "invalid", "errors": [TYPE_ERROR], "event_name": "pay"}] * 4
        + [{"status": "invalid", "errors": [REQUIRED_ERROR], "event_name": "pay"}]
        + [{"status": "invalid", "errors": [TYPE_ERROR], "event_name": "login"}],
    )
    answer = owner.get(f"/api/apps/{app_id}/errors?range=1h").get_json()
    groups = [(g["event_name"], g["path"], g["keyword"], g["count"]) for g in answer["groups"]]
    assert groups == [
        ("pay", "/userId", "type", 4),
        ("login", "/userId", "type", 1),
        ("pay", "/userId", "required", 1),
    ]
    assert answer["groups"][0]["example_ids"] == ids[3::-1][:3]
    assert answer["events_read"] == 6 and answer["truncated"] is False


def test_the_ingestion_api_still_gets_no_session(client, make_tracked_app):
    tracked = make_tracked_app()
    answer = client.post(
        f"/api/logs/{tracked['id']}", json={"eventName": "x"}, headers={"X-API-Key": tracked["key"]}
    )
    assert answer.status_code == 202
    assert "Set-Cookie" not in answer.headers and "Cookie" not in answer.headers.get("Vary", "")


def test_an_unknown_app_is_404_for_a_logged_in_developer(team):
    assert team["owner"].get(f"/api/apps/{uuid.uuid4()}/events").status_code == 404


def test_the_tracking_plan_json_saves_versions_diffs_tries_and_refuses_bad_schemas(team):
    owner, app_id = team["owner"], team["app_id"]
    token = owner.csrf(f"/apps/{app_id}/schemas")
    base = f"/api/apps/{app_id}/schemas"

    def post(path: str, body: dict):
        return owner.client.post(base + path, json=body, headers={"X-CSRFToken": token})

    first = {"type": "object", "required": ["plan"]}
    second = {"type": "object", "required": ["plan", "seats"]}
    assert post("", {"event_name": "signup", "schema": first}).status_code == 201
    assert post("", {"event_name": "signup", "schema": first}).get_json()["created"] is False
    assert post("", {"event_name": "signup", "schema": second}).get_json()["version"] == 2
    refused = post("", {"event_name": "signup", "schema": {"type": "nope"}})
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_schema"

    versions = owner.get(f"{base}/signup/versions").get_json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    lines = owner.get(f"{base}/signup/diff?from=1&to=2").get_json()["lines"]
    assert '+    "seats"' in lines and lines[0] == "--- v1"
    assert owner.get(f"{base}/signup/diff?from=1&to=9").status_code == 404
    assert owner.get(f"{base}/signup/diff?from=x&to=2").status_code == 400

    tried = post("/try", {"schema": second, "payload": {"plan": "pro"}}).get_json()
    assert tried == {
        "valid": False,
        "errors": [
            {"path": "/seats", "keyword": "required", "message": tried["errors"][0]["message"]}
        ],
    }
    assert post("/try", {"schema": second, "payload": {"plan": 1, "seats": 2}}).get_json()["valid"]
    assert post("/try", {"schema": {"type": 5}, "payload": {}}).status_code == 400
    assert (
        post("/impact", {"event_name": "signup", "schema": second, "limit": 0}).status_code == 400
    )


DEEP_SCHEMA = '{"not":' * 100 + "{}" + "}" * 100


@pytest.mark.parametrize(
    ("path", "raw_body"),
    [
        ("/schemas", '{"event_name": "a\\u0000", "schema": {}}'),
        ("/schemas", '{"event_name": "a", "schema": {"const": "\\u0000"}}'),
        ("/schemas", '{"event_name": "\\ud800", "schema": {}}'),
        ("/schemas", '{"event_name": "deep", "schema": ' + DEEP_SCHEMA + "}"),
        ("/schemas/try", '{"payload": 1, "schema": ' + DEEP_SCHEMA + "}"),
        ("/schemas/infer", '{"event_name": "a\\u0000"}'),
        ("/schemas/infer", '{"event_name": "a", "limit": true}'),
        ("/schemas/impact", '{"event_name": "a\\u0000", "schema": {}}'),
    ],
)
def test_bodies_postgresql_or_the_validator_cannot_take_are_refused_with_400(
    app, team, path, raw_body
):
    """NUL characters, lone surrogates and very deep schemas once failed inside the INSERT,
    the query or jsonschema's recursion: 500s the OpenAPI fuzz test found."""
    owner = team["owner"]
    token = owner.csrf(f"/apps/{team['app_id']}")
    answer = owner.client.post(
        f"/api/apps/{team['app_id']}{path}",
        data=raw_body,
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.get_data(True)
    assert answer.get_json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "path",
    [
        "/events?event=%00",
        "/events?q=a%00b",
        "/events/%00",
        "/schemas/a%00/versions",
        "/schemas/a%00/diff?from=1&to=1",
    ],
)
def test_a_nul_in_the_path_or_query_is_refused_with_400(team, path):
    answer = team["owner"].get(f"/api/apps/{team['app_id']}{path}")
    assert answer.status_code == 400
    assert answer.get_json() == {
        "error": "bad_request",
        "message": "the path and query must not contain NUL",
    }


def test_a_schema_as_deep_as_the_deepest_event_is_still_saved(app, team):
    schema: dict = {"type": "object"}
    for _ in range(35):  # events nest at most 32 levels; two schema levels describe each
        schema = {"type": "object", "properties": {"child": schema}}
    owner = team["owner"]
    token = owner.csrf(f"/apps/{team['app_id']}")
    answer = owner.client.post(
        f"/api/apps/{team['app_id']}/schemas",
        json={"event_name": "nested", "schema": schema},
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 201, answer.get_json()


@pytest.mark.parametrize(
    "query",
    [
        "q=needle",
        f"q=needle&after={uuid.UUID(int=0)}",  # a live page with no results yet
        f"q=needle&after={uuid.UUID(int=0)}&mark=stale",
    ],
)
def test_a_search_without_a_range_looks_back_one_day_even_when_polling(app, team, query):
    import random
    from datetime import UTC, datetime, timedelta

    from app.store.events import store_events
    from tests.support.factories import make_record, uuid7_at

    rng = random.Random(7)
    old_moment = datetime.now(UTC) - timedelta(days=2)
    old = make_record(
        team["app_id"],
        id=uuid7_at(old_moment, rng),
        received_at=old_moment.isoformat(),
        payload={"eventName": "e", "text": "needle"},
    )
    [recent] = stored_events(app, team["app_id"], [{"payload": {"eventName": "e", "t": "needle"}}])
    with app.app_context():
        store_events([old])
    answer = team["owner"].get(f"/api/apps/{team['app_id']}/events?{query}")
    assert [row["id"] for row in answer.get_json()["events"]] == [recent]
    ranged = team["owner"].get(f"/api/apps/{team['app_id']}/events?{query}&range=7d")
    assert [row["id"] for row in ranged.get_json()["events"]] == [recent, old["id"]]


def test_the_store_bounds_a_search_without_a_range_to_one_day(app, team):
    from app.store.reads import events as event_queries
    from app.store.reads.events import StreamFilter

    query = event_queries.stream_query(
        uuid.UUID(team["app_id"]), StreamFilter(search="x", after=uuid.UUID(int=0))
    )
    floors = [v for v in query.compile().params.values() if isinstance(v, uuid.UUID)]
    assert max(floors) > uuid.UUID(int=0)  # an id floor besides the cursor
