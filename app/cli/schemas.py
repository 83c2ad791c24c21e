"""`flask schemas set|list`."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.cli import emit, fail, find_app, json_option
from app.store import catalog


@click.group()
def schemas() -> None:
    """Manage the tracking plan: one JSON Schema per event name."""


@schemas.command("set")
@click.argument("app_ref", metavar="APP")
@click.argument("event_name", metavar="EVENT")
@click.argument("schema_file", metavar="FILE.json", type=click.File("rb"))
@json_option
@with_appcontext
def set_schema(app_ref: str, event_name: str, schema_file, as_json: bool) -> None:
    """Save FILE.json as the next version of EVENT's schema (checked against draft 2020-12)."""
    app = find_app(app_ref, as_json)
    try:
        schema = json.loads(schema_file.read())
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{schema_file.name} is not valid JSON: {exc}", as_json)
    try:
        saved, created = catalog.set_schema(app, event_name, schema)
    except catalog.CatalogError as exc:
        fail(str(exc), as_json)
    emit(
        {
            "app_id": str(app.id),
            "event_name": event_name,
            "version": saved.version,
            "created": created,
        },
        as_json,
        f"{event_name}: version {saved.version}" + ("" if created else " (unchanged)"),
    )


@schemas.command("list")
@click.argument("app_ref", metavar="APP")
@json_option
@with_appcontext
def list_schemas(app_ref: str, as_json: bool) -> None:
    """List APP's event schemas, newest version of each."""
    app = find_app(app_ref, as_json)
    rows = [
        {
            "event_name": s.event_name,
            "version": s.version,
            "created_at": s.created_at,
            "schema": s.schema,
        }
        for s in catalog.latest_schemas(app.id)
    ]
    text = "\n".join(f"{r['event_name']}  v{r['version']}" for r in rows) or "No schemas."
    emit({"app_id": str(app.id), "schemas": rows}, as_json, text)
