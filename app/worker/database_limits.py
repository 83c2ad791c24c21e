"""Bound how long a worker's database statements may wait, below the storage soft limit.

A pool child blocked inside libpq (waiting for a lock, or on a stalled server) does not
run Python code, so the soft time limit's signal reaches it only when the statement
ends, and the hard limit would kill the child instead. PostgreSQL's own `lock_timeout`
and `statement_timeout`, set on each connection a worker opens, end such a wait with an
error the storage tasks retry, then park.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def limit_statement_waits(engine: Engine, lock_timeout_ms: int, statement_timeout_ms: int) -> None:
    """Set `lock_timeout` and `statement_timeout` on every new PostgreSQL connection."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _set_timeouts(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, false),"
                " set_config('statement_timeout', %s, false)",
                (f"{int(lock_timeout_ms)}ms", f"{int(statement_timeout_ms)}ms"),
            )
        dbapi_connection.commit()  # psycopg2 opened a transaction for the SELECT
