"""queue_consumers: when each queue last had a consumer

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-12 10:00:00.000000

Worker heartbeats are deleted when a worker stops, so they cannot tell how long a queue
has been without a consumer. Each heartbeat now also records, per queue of the
topology, the last moment a worker consumed it (or, for a queue no worker has consumed
yet, when the first worker started watching), and /health reports a queue that holds
messages and has had no consumer for QUEUE_UNCONSUMED_SECONDS. A new, empty table: the
upgrade takes no lock on existing ones.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "queue_consumers",
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("queue"),
    )


def downgrade():
    op.drop_table("queue_consumers")
