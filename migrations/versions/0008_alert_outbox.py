"""alert outbox: pending alert mails, and one retry chain per webhook delivery

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-12 11:00:00.000000

First-seen alerts were sent at most once: the groups were marked alerted and committed
before their mails were queued, so a failed queue or a crash lost them. The claim now
records each alert mail in `alert_mails` in its own transaction; the mail is queued after
the commit and marked queued, and the hourly maintenance queues those still unqueued.

A webhook delivery now carries its retry chain (`chain`, sent with every message of it)
and a lease (`lease_until`) each attempt moves past its next retry: the maintenance
requeues only a delivery whose lease ran out, with a new chain, and a message of an
older chain does nothing. Both changes add a table or nullable columns: no rewrite.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("webhook_deliveries", sa.Column("chain", sa.String(length=32), nullable=True))
    op.add_column(
        "webhook_deliveries", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "alert_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_alert_mails_unqueued",
        "alert_mails",
        ["created_at"],
        postgresql_where=sa.text("queued_at IS NULL"),
        sqlite_where=sa.text("queued_at IS NULL"),
    )


def downgrade():
    op.drop_index("ix_alert_mails_unqueued", table_name="alert_mails")
    op.drop_table("alert_mails")
    op.drop_column("webhook_deliveries", "lease_until")
    op.drop_column("webhook_deliveries", "chain")
