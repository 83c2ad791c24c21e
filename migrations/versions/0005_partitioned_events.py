"""events partitioned by day on PostgreSQL; client eventIds in event_client_ids

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 12:40:00.000000

PostgreSQL only (SQLite keeps its unpartitioned table and unique index). The old table
is renamed, a table `PARTITION BY RANGE (id)` takes its name with a default partition
and one partition per day that holds events (UUIDv7 days) plus today and the next
7 days, the rows are copied, then the primary key, indexes, check and foreign key are
built on the filled partitions (faster than maintaining them row by row), and the
client eventIds move to `event_client_ids`. The whole migration is one transaction:
writers of `events` wait for it (see README, "Migration 0005", for its duration).
"""

from datetime import UTC, date, datetime, time, timedelta

from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    "id, client_event_id, app_id, event_name, payload, payload_hash, status, errors, "
    "schema_version, client_ts, received_at, stored_at"
)
OLD_INDEXES = (
    "events_pkey",
    "ix_events_app_received_at",
    "uq_events_app_client_event_id",
    "ix_events_app_id_id",
    "ix_events_app_status_id",
    "ix_events_app_name_id",
)
READ_INDEXES = (
    ("ix_events_app_received_at", "app_id, received_at"),
    ("ix_events_app_id_id", "app_id, id"),
    ("ix_events_app_status_id", "app_id, status, id"),
    ("ix_events_app_name_id", "app_id, event_name, id"),
)
CREATE_EVENTS = """
CREATE TABLE events (
    id uuid NOT NULL,
    client_event_id varchar(128),
    app_id uuid NOT NULL,
    event_name varchar(200) NOT NULL,
    payload jsonb NOT NULL,
    payload_hash varchar(64) NOT NULL,
    status varchar(10) NOT NULL,
    errors jsonb NOT NULL,
    schema_version integer,
    client_ts timestamptz,
    received_at timestamptz NOT NULL,
    stored_at timestamptz NOT NULL,
    CONSTRAINT ck_events_status CHECK (status IN ('valid', 'invalid', 'unplanned'))
) PARTITION BY RANGE (id)
"""
# The day a UUIDv7 id was made (its first 48 bits are Unix milliseconds).
ID_DAY = (
    "(to_timestamp(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint "
    "/ 1000.0) AT TIME ZONE 'UTC')::date"
)
FIRST_DAY = date(2020, 1, 1)  # ids before this are not UUIDv7 times: the default takes them
DAYS_AHEAD = 7


def _day_bound(day):
    milliseconds = int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)
    return f"{milliseconds:012x}"[:8] + "-" + f"{milliseconds:012x}"[8:] + "-0000-0000-000000000000"


def _event_days(connection):
    today = datetime.now(UTC).date()
    rows = connection.exec_driver_sql(
        f"SELECT DISTINCT {ID_DAY} FROM events_unpartitioned WHERE substr(id::text, 15, 1) = '7'"
    )
    days = {row[0] for row in rows}
    days.update(today + timedelta(days=n) for n in range(DAYS_AHEAD + 1))
    return sorted(d for d in days if FIRST_DAY <= d <= today + timedelta(days=DAYS_AHEAD))


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    connection = op.get_bind()
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    for index in OLD_INDEXES:
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_unpartitioned")
    op.execute(CREATE_EVENTS)
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    for day in _event_days(connection):
        op.execute(
            f"CREATE TABLE events_p{day:%Y%m%d} PARTITION OF events FOR VALUES "
            f"FROM ('{_day_bound(day)}') TO ('{_day_bound(day + timedelta(days=1))}')"
        )
    op.execute(f"INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} FROM events_unpartitioned")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id)")
    for name, columns in READ_INDEXES:
        op.execute(f"CREATE INDEX {name} ON events ({columns})")
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT events_app_id_fkey FOREIGN KEY (app_id) "
        "REFERENCES apps (id) ON DELETE CASCADE"
    )
    op.execute(
        "CREATE TABLE event_client_ids ("
        "app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE, "
        "client_event_id varchar(128) NOT NULL, "
        "event_id uuid NOT NULL, "
        "received_at timestamptz NOT NULL, "
        "PRIMARY KEY (app_id, client_event_id))"
    )
    op.execute(
        "INSERT INTO event_client_ids (app_id, client_event_id, event_id, received_at) "
        "SELECT app_id, client_event_id, id, received_at FROM events_unpartitioned "
        "WHERE client_event_id IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX ix_event_client_ids_app_received_at ON event_client_ids (app_id, received_at)"
    )
    op.execute("DROP TABLE events_unpartitioned")
    op.execute("ANALYZE events")
    op.execute("ANALYZE event_client_ids")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    op.execute("ALTER INDEX events_pkey RENAME TO events_pkey_partitioned")
    for name, _columns in READ_INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_partitioned")
    op.execute(CREATE_EVENTS.replace("PARTITION BY RANGE (id)", ""))
    op.execute(f"INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} FROM events_partitioned")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id)")
    for name, columns in READ_INDEXES:
        op.execute(f"CREATE INDEX {name} ON events ({columns})")
    op.execute(
        "CREATE UNIQUE INDEX uq_events_app_client_event_id ON events (app_id, client_event_id) "
        "WHERE client_event_id IS NOT NULL"
    )
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT events_app_id_fkey FOREIGN KEY (app_id) "
        "REFERENCES apps (id) ON DELETE CASCADE"
    )
    op.execute("DROP TABLE events_partitioned")
    op.execute("DROP TABLE event_client_ids")
