"""Match the OpenAPI document's operations with the routes the app really has."""

from __future__ import annotations

import re

from werkzeug.routing import Map

METHODS = ("get", "post", "put", "patch", "delete")
_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_ANY = re.compile(r"<any\(([^)]*)\):[^<>]+>")  # <any(track, page):kind>: one path per literal
_TEMPLATE_VARIABLE = re.compile(r"\{[^{}]+\}")

# Described from their specification while they are built on other branches: the document
# may name them before the app has them (the fuzz test covers them once they exist).
ARRIVING = {
    ("post", "/v1/batch"),
    ("post", "/v1/b"),
    ("post", "/v1/track"),
    ("post", "/v1/identify"),
    ("post", "/v1/page"),
    ("post", "/v1/screen"),
    ("post", "/v1/group"),
    ("post", "/v1/alias"),
    ("get", "/v1/projects/{}/settings"),
    ("post", "/api/apps/{}/events/search"),
}
# JSON routes the document leaves out on purpose, with the reason.
UNDESCRIBED: dict[tuple[str, str], str] = {}


def shape(template: str) -> str:
    """`/api/apps/{app_id}/events` and `/api/apps/<uuid:app_id>/events` -> `/api/apps/{}/events`."""
    return _TEMPLATE_VARIABLE.sub("{}", _VARIABLE.sub("{}", template))


def _expanded(rule: str) -> list[str]:
    """A rule with an `any(...)` converter stands for one path per literal it accepts."""
    found = _ANY.search(rule)
    if not found:
        return [rule]
    literals = [word.strip() for word in found.group(1).split(",")]
    return [path for word in literals for path in _expanded(rule.replace(found.group(0), word, 1))]


def app_operations(url_map: Map) -> set[tuple[str, str]]:
    """Every (method, path shape) the app serves."""
    return {
        (method.lower(), shape(path))
        for rule in url_map.iter_rules()
        for path in _expanded(rule.rule)
        for method in rule.methods or ()
        if method.lower() in METHODS
    }


def is_json_route(path: str) -> bool:
    """Routes that answer JSON: the APIs, the health check, and the dashboard's `.json`."""
    return path.startswith(("/api/", "/v1/")) or path == "/health" or path.endswith(".json")


def document_operations(document: dict) -> set[tuple[str, str]]:
    return {
        (method, shape(path))
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    }


def served_only(document: dict, url_map: Map) -> dict:
    """A copy of the document without the operations the app does not serve (yet)."""
    served = app_operations(url_map)
    paths = {}
    for path, item in document["paths"].items():
        kept = {
            key: value
            for key, value in item.items()
            if key not in METHODS or (key, shape(path)) in served
        }
        if any(method in kept for method in METHODS):
            paths[path] = kept
    return {**document, "paths": paths}


def only_operations(document: dict, operation_ids: set[str]) -> dict:
    """A copy of the document with only the named operations."""
    paths = {}
    for path, item in document["paths"].items():
        kept = {k: v for k, v in item.items() if k in METHODS and v["operationId"] in operation_ids}
        if kept:
            paths[path] = kept
    return {**document, "paths": paths}
