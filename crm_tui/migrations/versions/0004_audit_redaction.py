"""audit entries keep their personal content apart from the chain, so an erasure can
remove it and the chain still verifies

Revision ID: 0004_audit_redaction
Revises: 0003_sync_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_redaction"
down_revision = "0003_sync_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("content_salt", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("content_digest", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("redacted", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_column("redacted")
        batch_op.drop_column("content_digest")
        batch_op.drop_column("content_salt")
