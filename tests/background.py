"""Helpers for the background-work tests: events at chosen times, direct recounts."""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import text

from app.extensions import db
from app.store.events import store_events
from tests.support.factories import make_record
from tests.support.processes import wait_for

NAMES = ("user_login", "purchase", "screen_view")


def invalid_errors(*pairs: tuple[str, str]) -> list[dict]:
    """Validation errors as the ingest path records them, for (path, keyword) pairs."""
    return [{"path": path, "keyword": keyword, "message": "bad"} for path, keyword in pairs]


def store_at(app_id: str, moment: datetime, **fields) -> dict:
    """Store one event received at `moment` through the real storage path; return its record."""
    record = make_record(
        app_id,
        id=str(uuid.uuid4()),
        received_at=moment.isoformat(),
        **fields,
    )
    assert store_events([record]) == 1
    return record


def event_id_at(moment: datetime) -> str:
    """A UUIDv7 id made at `moment` (as the ingest path makes them), random otherwise."""
    milliseconds = int(moment.timestamp() * 1000)
    tail = random.getrandbits(74)
    value = (milliseconds << 80) | (0x7 << 76) | ((tail >> 62) << 64) | (0b10 << 62)
    return str(uuid.UUID(int=value | (tail & ((1 << 62) - 1))))


def random_records(app_id: str, moments: list[datetime], rng: random.Random) -> list[dict]:
    """Records with random names, statuses and errors at the given moments."""
    records = []
    for moment in moments:
        status = rng.choice(("valid", "invalid", "unplanned"))
        errors = []
        if status == "invalid":
            errors = invalid_errors(
                *rng.sample([("/userId", "type"), ("", "required"), ("/method", "enum")], 2)
            )
        records.append(
            make_record(
                app_id,
                event_name=rng.choice(NAMES),
                status=status,
                errors=errors,
                schema_version=rng.choice((1, 2)) if status == "invalid" else None,
                received_at=moment.isoformat(),
            )
        )
    return records


def direct_counts(app_id: str, unit: str) -> dict[tuple, int]:
    """{(bucket, event_name, status): n} counted straight from events (unit: hour or day)."""
    rows = db.session.execute(
        text(
            "SELECT date_trunc(:unit, received_at, 'UTC'), event_name, status, count(*) "
            "FROM events WHERE app_id = :app GROUP BY 1, 2, 3"
        ),
        {"unit": unit, "app": app_id},
    )
    return {(bucket, name, status): n for bucket, name, status, n in rows}


def rollup_counts(app_id: str, table: str, column: str) -> dict[tuple, int]:
    rows = db.session.execute(
        text(f"SELECT {column}, event_name, status, count FROM {table} WHERE app_id = :app"),
        {"app": app_id},
    )
    return {(bucket, name, status): n for bucket, name, status, n in rows}


def direct_error_groups(app_id: str) -> dict[tuple, int]:
    """{(hour, name, version, path, keyword): events} straight from the invalid events."""
    rows = db.session.execute(
        text(
            "SELECT date_trunc('hour', received_at, 'UTC'), event_name, "
            "coalesce(schema_version, 0), e->>'path', e->>'keyword', count(DISTINCT id) "
            "FROM events, jsonb_array_elements(errors) e "
            "WHERE app_id = :app AND status = 'invalid' GROUP BY 1, 2, 3, 4, 5"
        ),
        {"app": app_id},
    )
    return {tuple(row[:5]): row[5] for row in rows}


def rollup_error_group_hours(app_id: str) -> dict[tuple, int]:
    rows = db.session.execute(
        text(
            "SELECT hour, event_name, schema_version, path, keyword, count "
            "FROM error_group_hourly WHERE app_id = :app"
        ),
        {"app": app_id},
    )
    return {tuple(row[:5]): row[5] for row in rows}


class WebhookReceiver:
    """A local HTTP server that records every POST and answers with scripted codes
    (then 200 once the script runs out)."""

    def __init__(self, codes: list[int] | None = None) -> None:
        self.codes = list(codes or [])
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers), body))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_signature(secret: str, headers: dict, body: bytes) -> bool:
    """What a receiver does (the example in docs/background-work.md)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-LVD-Signature", ""))


def run_on_worker(app, task_name: str, *args, timeout: float = 60):
    """Submit a task by name to the real workers and return its result once ready."""
    result = app.extensions["celery"].send_task(task_name, args=args)
    wait_for(result.ready, timeout=timeout)
    assert result.successful(), result.traceback
    return result.result


def counters_equal_rows(app_id: str) -> bool:
    """Whether every per-minute counter of the app equals its rows (and none is missing)."""
    mismatches = db.session.scalar(
        text(
            "SELECT count(*) FROM (SELECT date_trunc('minute', received_at, 'UTC') AS minute, "
            "event_name, status, count(*) AS n FROM events WHERE app_id = :app GROUP BY 1, 2, 3) e "
            "FULL JOIN (SELECT * FROM event_counts WHERE app_id = :app) c "
            "USING (minute, event_name, status) WHERE e.n IS DISTINCT FROM c.count"
        ),
        {"app": app_id},
    )
    return mismatches == 0
