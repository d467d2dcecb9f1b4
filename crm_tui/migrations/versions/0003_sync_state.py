"""sync state: where the last provider sync got to

Revision ID: 0003_sync_state
Revises: 0002_customer_search
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_sync_state"
down_revision = "0002_customer_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
