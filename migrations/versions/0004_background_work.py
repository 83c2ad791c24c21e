"""background work: rollups, error groups, alert and digest choices, webhook deliveries

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03 09:20:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _app_fk():
    return sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE")


def upgrade():
    for table, bucket in (("rollup_hourly", "hour"), ("rollup_daily", "day")):
        op.create_table(
            table,
            sa.Column("app_id", sa.Uuid(), nullable=False),
            sa.Column(bucket, sa.DateTime(timezone=True), nullable=False),
            sa.Column("event_name", sa.String(length=200), nullable=False),
            sa.Column("status", sa.String(length=10), nullable=False),
            sa.Column("count", sa.Integer(), nullable=False),
            _app_fk(),
            sa.PrimaryKeyConstraint("app_id", bucket, "event_name", "status"),
        )
    op.create_table(
        "error_group_hourly",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_name", sa.String(length=200), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("keyword", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("example_event_id", sa.Uuid(), nullable=False),
        _app_fk(),
        sa.PrimaryKeyConstraint(
            "app_id", "hour", "event_name", "schema_version", "path", "keyword"
        ),
    )
    op.create_table(
        "error_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("event_name", sa.String(length=200), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("keyword", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("example_event_id", sa.Uuid(), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        _app_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "app_id", "event_name", "schema_version", "path", "keyword", name="uq_error_groups_key"
        ),
    )
    op.create_index("ix_error_groups_app_first_seen", "error_groups", ["app_id", "first_seen"])
    op.create_table(
        "app_background_settings",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("webhook_secret", sa.String(length=100), nullable=True),
        _app_fk(),
        sa.PrimaryKeyConstraint("app_id"),
    )
    op.create_table(
        "notification_choices",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("alerts", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        _app_fk(),
        sa.PrimaryKeyConstraint("user_id", "app_id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("error_group_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'retrying', 'delivered', 'failed', 'refused')",
            name="ck_webhook_deliveries_status",
        ),
        _app_fk(),
        sa.ForeignKeyConstraint(["error_group_id"], ["error_groups.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_deliveries_app_created", "webhook_deliveries", ["app_id", "created_at"]
    )
    op.create_table(
        "digests_sent",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        _app_fk(),
        sa.PrimaryKeyConstraint("app_id", "day"),
    )


    op.create_table('background_jobs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('app_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=True),
    sa.Column('processed', sa.BigInteger(), nullable=False),
    sa.Column('changed', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('file_path', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('revalidate', 'export')", name='ck_background_jobs_kind'),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'cancelled', 'failed')", name='ck_background_jobs_status'),
    _app_fk(),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_background_jobs_app_created', 'background_jobs', ['app_id', 'created_at'])
    op.create_table('event_revalidations',
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('app_id', sa.Uuid(), nullable=False),
    sa.Column('revalidated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('previous_status', sa.String(length=10), nullable=False),
    sa.Column('previous_errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('previous_schema_version', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    _app_fk(),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_event_revalidations_app_id', 'event_revalidations', ['app_id'])


def downgrade():
    op.drop_index('ix_event_revalidations_app_id', table_name='event_revalidations')
    op.drop_table('event_revalidations')
    op.drop_index('ix_background_jobs_app_created', table_name='background_jobs')
    op.drop_table('background_jobs')
    op.drop_table("digests_sent")
    op.drop_index("ix_webhook_deliveries_app_created", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("notification_choices")
    op.drop_table("app_background_settings")
    op.drop_index("ix_error_groups_app_first_seen", table_name="error_groups")
    op.drop_table("error_groups")
    op.drop_table("error_group_hourly")
    op.drop_table("rollup_daily")
    op.drop_table("rollup_hourly")
