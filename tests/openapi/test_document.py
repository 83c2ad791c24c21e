"""The OpenAPI document: valid 3.1, describes every JSON route, served, rendered in docs/."""

from __future__ import annotations

import jsonschema
import pytest

from app.openapi import markdown
from app.openapi.document import load_document
from tests.openapi.routes import (
    ARRIVING,
    UNDESCRIBED,
    app_operations,
    document_operations,
    is_json_route,
)


def test_the_document_is_valid_openapi_3_1_with_valid_json_schemas():
    # The OpenAPI 3.1 meta-schema schemathesis ships (it checks documents with it too).
    from schemathesis.specs.openapi.definitions import OPENAPI_31

    document = load_document()
    assert document["openapi"].startswith("3.1.")
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in jsonschema.Draft202012Validator(OPENAPI_31).iter_errors(document)
    ]
    assert errors == []
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_json_route_of_the_app_is_described(app):
    served = {op for op in app_operations(app.url_map) if is_json_route(op[1])}
    assert ("post", "/api/logs/{}") in served  # the app's routes really were read
    missing = served - document_operations(load_document()) - set(UNDESCRIBED)
    assert missing == set()


def test_every_described_operation_exists_or_is_arriving(app):
    unknown = document_operations(load_document()) - app_operations(app.url_map) - ARRIVING
    assert unknown == set()


def test_operation_ids_are_unique_and_links_name_real_operations():
    document = load_document()
    operations = [
        op for item in document["paths"].values() for key, op in item.items() if key != "parameters"
    ]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    linked = {
        link["operationId"]
        for op in operations
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    }
    assert linked and linked <= set(ids)


def test_the_document_is_served_as_json_without_auth_and_revalidated_by_etag(client):
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert answer.get_json() == load_document()
    assert "max-age" in answer.headers["Cache-Control"]
    assert "Set-Cookie" not in answer.headers
    again = client.get("/api/openapi.json", headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/openapi.json", 200), ("/api/openapi.yaml", 404), ("/api/logs/x/batch/y", 404)],
)
def test_paths_near_the_document_answer_json(client, path, status):
    answer = client.get(path)
    assert answer.status_code == status
    assert answer.mimetype == "application/json"


def test_the_committed_reference_page_is_the_rendered_document():
    page = markdown.render(load_document())
    assert markdown.PAGE_PATH.read_text(encoding="utf-8") == page, (
        "docs/api-reference.md is stale: run python -m app.openapi.markdown"
    )
    for operation_id in ("ingestEvent", "segmentTrack", "getEvent", "saveSchema"):
        assert operation_id not in page  # the page speaks of paths, not internal ids
    for heading in ("### POST `/api/logs/{app_id}`", "### POST `/v1/batch`", "### Verdict"):
        assert heading in page


def test_the_page_renders_types_links_and_auth_readably():
    page = markdown.render(load_document())
    assert "| `limit` | query | integer (≥ 1, ≤ 200) | no |" in page
    assert "Authentication: `basicKey` or `ingestKey` or a `writeKey` in the body." in page
    assert "[Error](#error); header `Retry-After`" in page
    assert "| `status` | [Status](#status) | yes |" in page
