"""Fuzz every served operation of the OpenAPI document against a real gunicorn.

Schemathesis generates requests from the document (valid ones and broken ones) and checks
each answer: never a 5xx, a documented status, content type, headers and body. The document
is fetched from /api/openapi.json and narrowed to the routes this app has, so operations
described ahead of their code are fuzzed as soon as they exist.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.accounts import Web
from tests.openapi.routes import only_operations, served_only
from tests.support.factories import USER_LOGIN_SCHEMA, stored_events
from tests.support.servers import gunicorn

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Bounded so that the whole file stays near a minute on a loaded 2-core machine.
EXAMPLES_PER_OPERATION = 25
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


@pytest.fixture(scope="module")
def tenant(app):
    """An app with a schema and stored events, its owner's session cookie and CSRF token."""
    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.models import App, User
    from app.store import catalog

    with app.app_context():
        owner = User(
            email=f"fuzz-{uuid.uuid4().hex[:10]}@example.com",
            password_hash=hash_password("correct horse battery"),
            confirmed_at=datetime.now(UTC),
            session_epoch=0,
        )
        db.session.add(owner)
        db.session.commit()
        created, key = catalog.create_app(f"fuzz-{uuid.uuid4().hex[:10]}", owner_id=owner.id)
        app_id, session_id = str(created.id), owner.get_id()
        catalog.set_schema(App.lookup(app_id), "user_login", USER_LOGIN_SCHEMA)
    stored_events(
        app,
        app_id,
        [
            {"payload": {"eventName": "user_login", "userId": 1}},
            {
                "status": "invalid",
                "payload": {"eventName": "user_login", "userId": "x"},
                "errors": [{"path": "/userId", "keyword": "type", "message": "not an integer"}],
            },
        ],
    )
    # The session exactly as a completed login makes it (tests/auth proves the login itself).
    web = Web(app.test_client())
    with web.client.session_transaction() as session:
        session.permanent = True
        session["_user_id"] = session_id
        session["_fresh"] = True
        session["login_at"] = session["seen_at"] = datetime.now(UTC).timestamp()
    csrf_token = web.csrf(f"/apps/{app_id}")
    return {"app_id": app_id, "key": key, "cookie": web.session_cookie(), "csrf": csrf_token}


@pytest.fixture(scope="module")
def server(app):
    """A real gunicorn on the test database and Redis (same secret key: same instance path)."""
    with gunicorn(workers=2) as url:
        yield url


@pytest.fixture(scope="module")
def served_document(app, server) -> dict:
    """The document the server serves, narrowed to the routes this app has."""
    document = requests.get(f"{server}/api/openapi.json", timeout=30).json()
    return served_only(document, app.url_map)


@pytest.fixture(scope="module")
def fuzz_config(server, tenant) -> schemathesis.Config:
    """Where to send requests, the credentials of each security scheme, the pinned values."""
    return schemathesis.Config.from_dict(
        {
            "base-url": server,
            "auth": {
                "openapi": {
                    "ingestKey": {"api_key": tenant["key"]},
                    "ingestBearer": {"bearer": tenant["key"]},
                    "basicKey": {"username": tenant["key"], "password": ""},
                    "sessionCookie": {"api_key": tenant["cookie"]},
                }
            },
            # The tenant's own app, so requests reach the code behind the membership check;
            # no long-polls (a fuzzed `wait` would hold each request up to 30 s).
            "parameters": {
                "path.app_id": tenant["app_id"],
                "path.writeKey": tenant["key"],
                "header.X-CSRFToken": tenant["csrf"],
                "query.wait": 0,
            },
            "request-timeout": 30,
            # The coverage phase (boundary values, every undeclared method) more than doubled
            # the requests (996 against 405 measured) for the time budget of this file.
            "phases": {"coverage": {"enabled": False}},
        }
    )


@pytest.fixture(scope="module")
def api_schema(served_document, fuzz_config):
    return schemathesis.openapi.from_dict(served_document, config=fuzz_config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_answer_matches_the_document(case):
    case.call_and_validate(checks=CHECKS)


# Each chain starts at an operation whose answer links to the others (the document's
# `links`); schemathesis follows them with the values the answers hold.
CHAINS = {
    "event, its task and the stored event": ("ingestEvent", "getTask", "getEvent"),
    "batch and its task": ("ingestBatch", "getTask"),
    "saved schema, its versions and diff": (
        "saveSchema",
        "listSchemaVersions",
        "diffSchemaVersions",
    ),
    "stream and its newest event": ("listEvents", "getEvent"),
}


@pytest.mark.parametrize("chain", CHAINS.values(), ids=CHAINS.keys())
def test_linked_operations_match_the_document(served_document, fuzz_config, tenant, chain):
    """Follow the links of one chain; every answer on the way must match the document."""
    called: list[tuple[str, int]] = []
    linked = schemathesis.openapi.from_dict(
        only_operations(served_document, set(chain)), config=fuzz_config
    )

    class Chain(linked.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case) -> None:
            # Stateful cases do not get the configured parameters: pin the tenant's app.
            if case.path_parameters and "app_id" in case.path_parameters:
                case.path_parameters["app_id"] = tenant["app_id"]
            if case.headers is not None and "X-CSRFToken" in case.headers:
                case.headers["X-CSRFToken"] = tenant["csrf"]

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            called.append((case.operation.definition.raw["operationId"], response.status_code))
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    Chain.run(settings=hypothesis.settings(FUZZ_SETTINGS, max_examples=10, stateful_step_count=3))
    assert {operation for operation, _status in called} == set(chain), called
    # A linked call answered 200: it was given the values of an earlier answer.
    assert any(status == 200 for operation, status in called if operation != chain[0]), called
