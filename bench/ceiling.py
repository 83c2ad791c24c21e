"""The ceiling: a do-nothing Flask app with the ingest endpoint's path and answer.

It reads the body and answers 202 with the same JSON shape as POST /api/logs/<app_id>,
and does nothing else. Served by gunicorn with the same settings as the real app, it
is what every figure of the benchmark is compared to.
"""

from __future__ import annotations

import uuid

import orjson
from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/api/logs/<app_id>")
def ingest_event(app_id: str) -> Response:
    """Answer 202 like the real endpoint, without validating, publishing or storing."""
    request.get_data(cache=False)
    event_id = str(uuid.uuid4())
    body = {
        "event_id": event_id,
        "event_name": "user_login",
        "status": "valid",
        "errors": [],
        "task_id": event_id,
        "message": "Event queued for processing",
    }
    return Response(orjson.dumps(body), status=202, mimetype="application/json")


@app.get("/health")
def health() -> Response:
    """Answer 200 once the workers serve requests."""
    return Response(b'{"status": "ok"}', status=200, mimetype="application/json")
