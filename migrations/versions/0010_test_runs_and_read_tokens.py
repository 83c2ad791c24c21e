"""test runs on events, per-app read tokens

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00.000000

- `events.test_run`: the CI test run an event was sent in (`X-Test-Run`), NULL for every
  other event. Adding a nullable column without a default is a catalog change on both
  PostgreSQL (every partition at once) and SQLite: no row is rewritten.
- `ix_events_app_test_run_id` on (app_id, test_run, id), partial WHERE test_run IS NOT
  NULL: the search and the wait of one run, and the 24-hour clean-up, walk it. Events
  outside test runs (nearly all) never enter it, so it costs their writes nothing. Its
  build reads `events` once (writers wait while it runs, like 0006's).
- `read_tokens`: per-app tokens that read events (the test API), stored as SHA-256
  digests like ingest keys.
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE events ADD COLUMN test_run varchar(128)")
    op.execute(
        "CREATE INDEX ix_events_app_test_run_id ON events (app_id, test_run, id) "
        "WHERE test_run IS NOT NULL"
    )
    op.create_table(
        "read_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_read_tokens_app_id", "read_tokens", ["app_id"])


def downgrade():
    op.drop_index("ix_read_tokens_app_id", table_name="read_tokens")
    op.drop_table("read_tokens")
    op.execute("DROP INDEX ix_events_app_test_run_id")
    op.execute("ALTER TABLE events DROP COLUMN test_run")  # SQLite 3.35 and later too
