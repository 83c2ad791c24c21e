"""tenant privacy: users.is_admin (the first account becomes one); app names unique per owner

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00.000000

The system page (queues, workers, dead letters of every app together) is for the people
who run the installation, not for every registered developer. The first account is its
admin; `flask users make-admin EMAIL` names more.

App names were unique across the installation, so "an app named X already exists" told
any developer which names other teams use. They are now unique per owner (checked by
`store.catalog.create_app`); the index on name stays for look-ups, without uniqueness.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE users SET is_admin = true WHERE id = (SELECT min(id) FROM users)")
    # SQLite's constraint has no name: the convention names it for the table copy.
    convention = {"uq": "%(table_name)s_%(column_0_name)s_key"}
    with op.batch_alter_table("apps", naming_convention=convention) as batch:
        batch.drop_constraint("apps_name_key", type_="unique")
        batch.create_index("ix_apps_name", ["name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_index("ix_apps_name")
        batch.create_unique_constraint("apps_name_key", ["name"])
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_admin")
