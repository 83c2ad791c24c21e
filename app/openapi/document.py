"""GET /api/openapi.json: the OpenAPI 3.1 document of every JSON route, read once."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import yaml
from flask import Blueprint, Response, request

DOCUMENT_PATH = Path(__file__).with_name("openapi.yaml")
MAX_AGE_SECONDS = 300

bp = Blueprint("openapi", __name__)


@functools.cache
def load_document() -> dict:
    """The document as a dict, parsed from openapi.yaml once per process."""
    return yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))


@functools.cache
def _document_json() -> bytes:
    return orjson.dumps(load_document())


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    """Serve the document (no auth; cached by clients, revalidated by its ETag)."""
    response = Response(_document_json(), mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    response.add_etag()
    return response.make_conditional(request)
