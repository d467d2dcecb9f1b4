"""audit entries keep their personal content apart from the chain, so an erasure can
remove it and the chain still verifies

Entries written before this revision (development builds only: no release had the
trail) are chained again in the new form, in order, so `crm-tui audit verify`
holds on them. The hashing is written out here, not imported, so that this
revision keeps doing what it did whatever services/audit.py becomes.

Revision ID: 0004_audit_redaction
Revises: 0003_sync_state
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

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
    _chain_again(op.get_bind())


def _digest(prefix: str, body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prefix + "\n" + text).encode("utf-8")).hexdigest()


def _utc(moment: datetime) -> str:
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def _chain_again(connection: sa.Connection) -> None:
    audit = sa.table(
        "audit_entry",
        sa.column("id", sa.Integer),
        sa.column("seq", sa.Integer),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("agent_username", sa.String),
        sa.column("action", sa.String),
        sa.column("customer_id", sa.Integer),
        sa.column("details", sa.JSON),
        sa.column("before", sa.JSON),
        sa.column("after", sa.JSON),
        *(sa.column(name) for name in ("content_salt", "content_digest", "prev_hash", "hash")),
    )
    prev_hash = "0" * 64
    for row in connection.execute(sa.select(audit).order_by(audit.c.seq)).all():
        salt = secrets.token_hex(16)
        content = {"details": row.details or {}, "before": row.before, "after": row.after}
        content_digest = _digest(salt, content)
        entry = {
            "seq": row.seq,
            "at": _utc(row.at),
            "agent": row.agent_username,
            "action": row.action,
            "customer_id": row.customer_id,
            "content": content_digest,
        }
        digest = _digest(prev_hash, entry)
        connection.execute(
            sa.update(audit)
            .where(audit.c.id == row.id)
            .values(
                content_salt=salt, content_digest=content_digest, prev_hash=prev_hash, hash=digest
            )
        )
        prev_hash = digest


def downgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_column("redacted")
        batch_op.drop_column("content_digest")
        batch_op.drop_column("content_salt")
