"""The test PostgreSQL server's administration: autocommit connections, fresh databases."""

from __future__ import annotations

import contextlib

from tests.support.environment import TEST_DATABASE_URL


@contextlib.contextmanager
def admin_connection(database: str = "postgres", server_url: str | None = None):
    """An autocommit psycopg2 connection to `database` on the server of `server_url`
    (the test server by default), for ALTER DATABASE, CREATE DATABASE and held locks."""
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(server_url or TEST_DATABASE_URL)
    connection = psycopg2.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=database,
    )
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


def recreate_database(url: str) -> None:
    """Drop and create the database named by `url` (its server must answer)."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with admin_connection(server_url=url) as admin, admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
