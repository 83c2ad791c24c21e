"""Command-line management: `flask apps …`, `flask schemas …`, `flask events …`, `flask users …`."""

from __future__ import annotations

import json

import click
from flask import Flask

from app.models import App


def register_commands(app: Flask) -> None:
    from app.cli.apps import apps
    from app.cli.events import events
    from app.cli.schemas import schemas
    from app.cli.users import users

    for group in (apps, schemas, events, users):
        app.cli.add_command(group)


def emit(data: dict, as_json: bool, text: str) -> None:
    """Print one JSON object with --json, else the human-readable text."""
    click.echo(json.dumps(data, default=str) if as_json else text)


def fail(message: str, as_json: bool) -> None:
    """Exit with status 1 and a clear message (a JSON object with --json)."""
    if as_json:
        click.echo(json.dumps({"error": message}))
        raise SystemExit(1)
    raise click.ClickException(message)


def find_app(id_or_name: str, as_json: bool) -> App:
    app = App.lookup(id_or_name)
    if app is None:
        fail(f"no app with id or name {id_or_name!r}", as_json)
    return app


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
