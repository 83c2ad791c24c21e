"""Store nothing while this process's code and the database's migration revision differ.

A worker older (or newer) than the database's schema writes rows the schema no longer
means: after migration 0005 a pre-0005 storage worker stored one eventId three times.
The code knows the head revision of its own `migrations/` (read once per process); the
database's (`alembic_version`) is read at most every RECHECK_SECONDS. While they differ,
every write of events raises `RevisionMismatch`: the storage tasks hand their messages
back to the broker unacknowledged, the web's degraded path answers 503, and /health
reports both revisions. Writes resume by themselves once the two match again.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.config import PROJECT_ROOT
from app.extensions import db

log = logging.getLogger(__name__)

# A few seconds: a worker resumes that soon after `flask db upgrade`, for one small
# query per process in that time.
RECHECK_SECONDS = 5.0


class RevisionMismatch(RuntimeError):
    """The database's schema is not the one this code was written for."""


@functools.cache
def code_revision() -> str:
    """The head revision of this code's migrations."""
    return ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_current_head()


class _Seen:
    """The database revision last read, per database URL, and when."""

    lock = threading.Lock()
    revisions: dict[str, tuple[float, str | None]] = {}


def database_revision(fresh: bool = False) -> str | None:
    """The database's migration revision (None before any migration), cached a few seconds."""
    engine = db.engine
    key = engine.url.render_as_string(hide_password=True)
    now = time.monotonic()
    with _Seen.lock:
        seen = _Seen.revisions.get(key)
    if seen is not None and not fresh and now - seen[0] < RECHECK_SECONDS:
        return seen[1]
    try:
        with engine.connect() as connection:
            revision = connection.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError as exc:
        if "alembic_version" not in str(getattr(exc, "orig", exc)):
            raise  # the database is down: the write would fail anyway
        revision = None  # never migrated
    with _Seen.lock:
        previous = _Seen.revisions.get(key)
        _Seen.revisions[key] = (now, revision)
    if revision != code_revision() and (previous is None or previous[1] != revision):
        log.error(
            "this code expects database migration revision %s, the database is at %s: "
            "storing nothing until they match (run `flask db upgrade`, or deploy the code "
            "of revision %s)",
            code_revision(),
            revision,
            revision,
        )
    elif previous is not None and previous[1] != revision:
        log.warning("database migration revision is now %s, as this code expects", revision)
    return revision


def ensure_code_matches_database() -> None:
    """Raise RevisionMismatch unless the database is at this code's revision."""
    found = database_revision()
    if found != code_revision():
        raise RevisionMismatch(
            f"code expects database migration revision {code_revision()}, the database "
            f"is at {found}"
        )


def revision_status() -> dict:
    """{"ok", "code_revision", "database_revision"} for /health (read fresh)."""
    found = database_revision(fresh=True)
    return {
        "ok": found == code_revision(),
        "code_revision": code_revision(),
        "database_revision": found,
    }
