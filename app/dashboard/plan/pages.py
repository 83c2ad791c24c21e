"""The tracking plan page: schemas and versions, editor, try-it, diff, infer, impact."""

from __future__ import annotations

import uuid

from flask import render_template, request

from app.dashboard import bp
from app.dashboard.access import member_app_or_404
from app.store import catalog, plan
from app.store.ranges import RANGES
from app.store.reads import range_counts as range_stats


@bp.get("/apps/<uuid:app_id>/schemas")
def tracking_plan(app_id: uuid.UUID) -> str:
    """Show every schema with its versions and the editor (prefilled by ?event=)."""
    app, role = member_app_or_404(app_id)
    latest = catalog.latest_schemas(app.id)
    chosen = request.args.get("event", "")
    schemas = [(schema, plan.versions(app.id, schema.event_name)) for schema in latest]
    return render_template(
        "plan/plan.html",
        app=app,
        role=role,
        schemas=schemas,
        # newest first: the diff compares the previous version with the latest by default
        chosen_versions=next(
            ([v.version for v in found] for s, found in schemas if s.event_name == chosen), []
        ),
        unplanned_split=plan.split_unplanned(
            range_stats.range_summary(app.id, RANGES["7d"])["unplanned"],
            {s.event_name for s in latest},
        ),
        saved=request.args.get("saved", type=int),
        chosen=chosen,
        chosen_schema=next((s for s in latest if s.event_name == chosen), None),
        pretty=plan.pretty,
        impact_events=plan.IMPACT_EVENTS,
    )
