"""lighter writes of events: partial status index, no foreign keys to apps on the write path

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:50:00.000000

Every stored event paid for nine index entries and foreign-key checks where it had paid
for four before the dashboard (0003) and partitioning (0005); draining a backlog measured
about 18 % slower. This takes back what the reads do not need:

- `ix_events_app_status_id` holds only events that are not valid. The stream's status
  filter for invalid or unplanned events uses it; for valid events (the common status)
  the newest-first index finds them at once. Most events no longer enter it.
- `events` and `event_client_ids` lose their foreign keys to `apps`: each cost every
  stored event a lookup and a row lock on its app, and the product never deletes an app
  (events reach storage only after their app was found at ingest).
- `event_client_ids` loses its btree on (app_id, received_at), replaced by a BRIN index
  on received_at: the claims are written in time order, so a BRIN index finds the
  expired ones for retention at almost no cost per write.

SQLite (standalone) only gets the partial status index and keeps its foreign key.

Both index builds lock `events` (or `event_client_ids`) against writes while they run;
writers wait (README, "Migration 0006").
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NOT_VALID = "status <> 'valid'"


def upgrade():
    op.execute("DROP INDEX ix_events_app_status_id")
    op.execute(
        f"CREATE INDEX ix_events_app_status_id ON events (app_id, status, id) WHERE {NOT_VALID}"
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE events DROP CONSTRAINT events_app_id_fkey")
    op.execute("ALTER TABLE event_client_ids DROP CONSTRAINT event_client_ids_app_id_fkey")
    op.execute("DROP INDEX ix_event_client_ids_app_received_at")
    op.execute(
        "CREATE INDEX ix_event_client_ids_received_at ON event_client_ids USING brin (received_at)"
    )


def downgrade():
    op.execute("DROP INDEX ix_events_app_status_id")
    op.execute("CREATE INDEX ix_events_app_status_id ON events (app_id, status, id)")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_event_client_ids_received_at")
    op.execute(
        "CREATE INDEX ix_event_client_ids_app_received_at ON event_client_ids (app_id, received_at)"
    )
    for table in ("events", "event_client_ids"):
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_app_id_fkey "
            "FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE"
        )
