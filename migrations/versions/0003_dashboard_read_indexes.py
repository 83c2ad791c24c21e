"""dashboard read indexes

The live stream, its filters and the error groups read the newest events of one app
by id (UUIDv7, so id order is arrival order), optionally of one status or one event
name. Each index leads with app_id so that one team's traffic never slows another's
reads, and ends with id so that `ORDER BY id DESC LIMIT n` stops after n rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:20:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_app_id_id", ["app_id", "id"], unique=False)
        batch_op.create_index("ix_events_app_status_id", ["app_id", "status", "id"], unique=False)
        batch_op.create_index("ix_events_app_name_id", ["app_id", "event_name", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_app_name_id")
        batch_op.drop_index("ix_events_app_status_id")
        batch_op.drop_index("ix_events_app_id_id")
