"""PostgreSQL tells listening apps which customers changed (team mode's live refresh)

Every change to a customer writes an activity event (the services' rule), so one
statement-level trigger on `activity_event` is enough: after each INSERT statement
it sends `NOTIFY crm_changes` with the changed customers' ids, comma-separated, or
`*` when a statement touched more than 100 (a bulk action: read everything again).
Notifications are sent at commit, and not at all on rollback. SQLite has no NOTIFY:
there the app watches `PRAGMA data_version` instead (services/change_feed.py).

Revision ID: 0005_change_notify
Revises: 0004_audit_redaction
"""

from __future__ import annotations

from alembic import op

revision = "0005_change_notify"
down_revision = "0004_audit_redaction"
branch_labels = None
depends_on = None

CHANNEL = "crm_changes"
MAX_IDS = 100  # 100 ids stay far below NOTIFY's 8,000-byte payload limit

UP = [
    f"""CREATE FUNCTION crm_notify_changes() RETURNS trigger AS $$
    DECLARE
        changed integer;
        ids text;
    BEGIN
        SELECT count(DISTINCT customer_id), string_agg(DISTINCT customer_id::text, ',')
            INTO changed, ids FROM inserted;
        IF changed > 0 THEN
            PERFORM pg_notify('{CHANNEL}', CASE WHEN changed > {MAX_IDS} THEN '*' ELSE ids END);
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER activity_event_notify AFTER INSERT ON activity_event
        REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION crm_notify_changes()""",
]
DOWN = [
    "DROP TRIGGER IF EXISTS activity_event_notify ON activity_event",
    "DROP FUNCTION IF EXISTS crm_notify_changes()",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWN:
            op.execute(statement)
