"""/api/apps/<app_id>/schemas…: the tracking plan's JSON (versions, diff, try, infer, impact)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from flask import Response, jsonify, request

from app.dashboard.access import member_app_or_404
from app.dashboard.api import BadRequest, bp
from app.ingest.body import PayloadError, parse_json
from app.ingest.errors import error_response
from app.store import catalog, plan
from app.store.plan import InvalidSchema

MAX_SAMPLE = 5000
# Deep enough for a schema of the deepest event ingest accepts (32 levels, two schema levels
# each, plus the body's own), shallow enough for `jsonschema`'s recursive meta-schema check:
# at about 128 levels it raised RecursionError, a 500.
MAX_BODY_DEPTH = 80
# One inference or impact replay at a time per web process: each reads up to
# plan.PAYLOAD_BYTE_BUDGET of payloads, and several at once would take the process's
# CPU from the ingest requests it serves.
_replaying = threading.BoundedSemaphore(1)


@bp.get("/<uuid:app_id>/schemas")
def schemas(app_id: uuid.UUID) -> Response:
    """List the newest version of every event schema of the app."""
    app, _role = member_app_or_404(app_id)
    return jsonify(schemas=[plan.as_dict(s) for s in catalog.latest_schemas(app.id)])


@bp.post("/<uuid:app_id>/schemas")
def save_schema(app_id: uuid.UUID) -> tuple[Response, int]:
    """Save {"event_name", "schema"} as the event's next version (invalid schemas: 400)."""
    app, _role = member_app_or_404(app_id)
    body = _json_body()
    name = body.get("event_name")
    if not isinstance(name, str):
        raise BadRequest("event_name must be a string")
    try:
        saved, created = catalog.set_schema(app, name.strip(), body.get("schema"))
    except catalog.CatalogError as exc:
        return error_response(400, "invalid_schema", str(exc)), 400
    return jsonify(created=created, **plan.as_dict(saved)), 201 if created else 200


@bp.get("/<uuid:app_id>/schemas/<path:event_name>/versions")
def versions(app_id: uuid.UUID, event_name: str) -> Response:
    """List every saved version of one event's schema, newest first."""
    app, _role = member_app_or_404(app_id)
    found = plan.versions(app.id, event_name)
    if not found:
        return error_response(404, "not_found", "no schema is saved for this event name")
    return jsonify(versions=[plan.as_dict(s) for s in found])


@bp.get("/<uuid:app_id>/schemas/<path:event_name>/diff")
def diff(app_id: uuid.UUID, event_name: str) -> Response:
    """Unified diff between versions `from` and `to` of one event's schema."""
    app, _role = member_app_or_404(app_id)
    old = plan.version(app.id, event_name, _int_arg("from"))
    new = plan.version(app.id, event_name, _int_arg("to"))
    if old is None or new is None:
        return error_response(404, "not_found", "no such version of this event's schema")
    return jsonify(
        event_name=event_name, **{"from": old.version, "to": new.version}, lines=plan.diff(old, new)
    )


@bp.post("/<uuid:app_id>/schemas/try")
def try_it(app_id: uuid.UUID) -> Response:
    """Validate {"schema", "payload"} and return the errors; nothing is stored."""
    member_app_or_404(app_id)
    body = _json_body()
    try:
        found = plan.try_payload(body.get("schema"), body.get("payload"))
    except InvalidSchema as exc:
        return error_response(400, "invalid_schema", str(exc))
    return jsonify(valid=not found, errors=found)


@bp.post("/<uuid:app_id>/schemas/infer")
def infer(app_id: uuid.UUID) -> Response:
    """Draft a schema for {"event_name"}: from {"examples": [...]} pasted payloads when
    given, else from the newest stored payloads of that name."""
    app, _role = member_app_or_404(app_id)
    body = _json_body()
    name = body.get("event_name")
    if not isinstance(name, str) or not name:
        raise BadRequest("event_name must be a non-empty string")
    if "examples" in body:
        examples = body["examples"]
        examples = examples if isinstance(examples, list) else [examples]
        try:
            return jsonify(plan.infer_from_examples(name, examples))
        except ValueError as exc:
            raise BadRequest(f"examples: {exc}") from None
    sample = _sample(body, plan.INFER_EVENTS)
    return _one_at_a_time(lambda: jsonify(plan.infer(app.id, name, sample)))


@bp.post("/<uuid:app_id>/schemas/impact")
def impact(app_id: uuid.UUID) -> Response:
    """Replay the newest stored events of {"event_name"} against {"schema"}: pass/fail."""
    app, _role = member_app_or_404(app_id)
    body = _json_body()
    name = body.get("event_name")
    if not isinstance(name, str) or not name:
        raise BadRequest("event_name must be a non-empty string")
    sample = _sample(body, plan.IMPACT_EVENTS)

    def replay() -> Response:
        try:
            return jsonify(plan.impact(app.id, name, body.get("schema"), sample))
        except InvalidSchema as exc:
            return error_response(400, "invalid_schema", str(exc))

    return _one_at_a_time(replay)


def _one_at_a_time(work: Callable[[], Response]) -> Response:
    if not _replaying.acquire(blocking=False):
        return error_response(
            503, "busy", "another schema inference or impact preview is running; retry", 1
        )
    try:
        return work()
    finally:
        _replaying.release()


def _json_body() -> dict:
    """The JSON object sent, parsed strictly: PostgreSQL's JSONB and text refuse lone UTF-16
    surrogates and NUL characters, which a lenient parser lets through to the INSERT."""
    if not request.is_json:
        raise BadRequest("send a JSON object with Content-Type: application/json")
    try:
        body = parse_json(request.get_data(), MAX_BODY_DEPTH)
    except PayloadError as exc:
        raise BadRequest(exc.message) from None
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object with Content-Type: application/json")
    return body


def _int_arg(name: str) -> int:
    try:
        return int(request.args[name])
    except (KeyError, ValueError):
        raise BadRequest(f"{name} must be a version number") from None


def _sample(body: dict, default: int) -> int:
    sample = body.get("limit", default)
    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
        raise BadRequest(f"limit must be an integer between 1 and {MAX_SAMPLE}")
    return sample
