"""customer search: a substring index kept in sync by triggers

SQLite: an FTS5 table with the trigram tokenizer (rowid = customer id).
PostgreSQL: a `customer_search` table with a pg_trgm GIN index, plus lower(...)
indexes for prefix search and case-insensitive sorting (the server collates in C).

The searchable document of a customer holds its name, email, company, company
email, phone (as typed and as digits), its subscriptions' provider ids and its
external ids. Triggers on customer, subscription and external_id rebuild it.

Revision ID: 0002_customer_search
Revises: 0001_initial
"""

from __future__ import annotations

from alembic import op

revision = "0002_customer_search"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def _digits(expr: str) -> str:
    for char in (" ", "-", "(", ")", "+", "."):
        expr = f"replace({expr}, '{char}', '')"
    return expr


def _sqlite_doc(customer_id: str) -> str:
    """The document of customer `customer_id`, as one SQLite expression."""
    return f"""(SELECT c.name || ' ' || c.email || ' ' || c.company_name || ' '
        || c.company_email || ' ' || c.phone || ' ' || {_digits("c.phone")} || ' '
        || coalesce((SELECT group_concat(s.provider_id, ' ') FROM subscription s
                     WHERE s.customer_id = c.id AND s.provider_id <> ''), '') || ' '
        || coalesce((SELECT group_concat(x.external_id, ' ') FROM external_id x
                     WHERE x.customer_id = c.id), '')
        FROM customer c WHERE c.id = {customer_id})"""


def sqlite_customer_doc(customer_id: str) -> str:
    """The SQLite document expression, public so that the demo seeder's bulk load
    (triggers dropped) writes exactly the documents the triggers would write."""
    return _sqlite_doc(customer_id)


SQLITE_UP = [
    "CREATE VIRTUAL TABLE customer_fts USING fts5(doc, tokenize = 'trigram')",
    f"""CREATE TRIGGER customer_fts_insert AFTER INSERT ON customer BEGIN
        INSERT INTO customer_fts(rowid, doc) VALUES (NEW.id, {_sqlite_doc("NEW.id")});
    END""",
    f"""CREATE TRIGGER customer_fts_update
        AFTER UPDATE OF name, email, company_name, company_email, phone ON customer BEGIN
        UPDATE customer_fts SET doc = {_sqlite_doc("NEW.id")} WHERE rowid = NEW.id;
    END""",
    """CREATE TRIGGER customer_fts_delete AFTER DELETE ON customer BEGIN
        DELETE FROM customer_fts WHERE rowid = OLD.id;
    END""",
]
for _table, _columns in (
    ("subscription", "provider_id, customer_id"),
    ("external_id", "external_id, customer_id"),
):
    SQLITE_UP += [
        f"""CREATE TRIGGER {_table}_fts_insert AFTER INSERT ON {_table} BEGIN
            UPDATE customer_fts SET doc = {_sqlite_doc("NEW.customer_id")}
            WHERE rowid = NEW.customer_id;
        END""",
        f"""CREATE TRIGGER {_table}_fts_update AFTER UPDATE OF {_columns} ON {_table} BEGIN
            UPDATE customer_fts SET doc = {_sqlite_doc("OLD.customer_id")}
            WHERE rowid = OLD.customer_id;
            UPDATE customer_fts SET doc = {_sqlite_doc("NEW.customer_id")}
            WHERE rowid = NEW.customer_id;
        END""",
        f"""CREATE TRIGGER {_table}_fts_delete AFTER DELETE ON {_table} BEGIN
            UPDATE customer_fts SET doc = {_sqlite_doc("OLD.customer_id")}
            WHERE rowid = OLD.customer_id;
        END""",
    ]
# Rebuild for rows that existed before this revision.
SQLITE_UP.append(
    f"INSERT INTO customer_fts(rowid, doc) SELECT id, {_sqlite_doc('customer.id')} FROM customer"
)

SQLITE_DOWN = [
    *(
        f"DROP TRIGGER IF EXISTS {t}_fts_{op_}"
        for t in ("customer", "subscription", "external_id")
        for op_ in ("insert", "update", "delete")
    ),
    "DROP TABLE IF EXISTS customer_fts",
]

POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE TABLE customer_search (
        customer_id integer PRIMARY KEY REFERENCES customer(id) ON DELETE CASCADE,
        doc text NOT NULL)""",
    "CREATE INDEX ix_customer_search_doc ON customer_search USING gin (doc gin_trgm_ops)",
    # Prefix search on 1-2 characters, and case-insensitive sort keys.
    "CREATE INDEX ix_customer_name_lower ON customer (lower(name) text_pattern_ops)",
    "CREATE INDEX ix_customer_email_lower ON customer (lower(email) text_pattern_ops)",
    "CREATE INDEX ix_customer_company_lower ON customer (lower(company_name) text_pattern_ops)",
    "CREATE INDEX ix_customer_sort_name_lower ON customer (lower(name), id)",
    "CREATE INDEX ix_customer_sort_email_lower ON customer (lower(email), id)",
    f"""CREATE FUNCTION crm_refresh_customer_search(cid integer) RETURNS void AS $$
        INSERT INTO customer_search (customer_id, doc)
        SELECT c.id, lower(concat_ws(' ', c.name, c.email, c.company_name, c.company_email,
            c.phone, {_digits("c.phone")},
            (SELECT string_agg(s.provider_id, ' ') FROM subscription s
             WHERE s.customer_id = c.id AND s.provider_id <> ''),
            (SELECT string_agg(x.external_id, ' ') FROM external_id x WHERE x.customer_id = c.id)))
        FROM customer c WHERE c.id = cid
        ON CONFLICT (customer_id) DO UPDATE SET doc = EXCLUDED.doc;
    $$ LANGUAGE sql""",
    """CREATE FUNCTION crm_customer_search_trigger() RETURNS trigger AS $$
    BEGIN
        IF TG_TABLE_NAME = 'customer' THEN
            IF TG_OP <> 'DELETE' THEN PERFORM crm_refresh_customer_search(NEW.id); END IF;
        ELSE
            IF TG_OP <> 'INSERT' THEN PERFORM crm_refresh_customer_search(OLD.customer_id); END IF;
            IF TG_OP <> 'DELETE' THEN PERFORM crm_refresh_customer_search(NEW.customer_id); END IF;
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER customer_search_sync
        AFTER INSERT OR UPDATE OF name, email, company_name, company_email, phone ON customer
        FOR EACH ROW EXECUTE FUNCTION crm_customer_search_trigger()""",
    """CREATE TRIGGER subscription_search_sync
        AFTER INSERT OR DELETE OR UPDATE OF provider_id, customer_id ON subscription
        FOR EACH ROW EXECUTE FUNCTION crm_customer_search_trigger()""",
    """CREATE TRIGGER external_id_search_sync
        AFTER INSERT OR DELETE OR UPDATE OF external_id, customer_id ON external_id
        FOR EACH ROW EXECUTE FUNCTION crm_customer_search_trigger()""",
    "SELECT crm_refresh_customer_search(id) FROM customer",
]

POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS external_id_search_sync ON external_id",
    "DROP TRIGGER IF EXISTS subscription_search_sync ON subscription",
    "DROP TRIGGER IF EXISTS customer_search_sync ON customer",
    "DROP FUNCTION IF EXISTS crm_customer_search_trigger()",
    "DROP FUNCTION IF EXISTS crm_refresh_customer_search(integer)",
    "DROP INDEX IF EXISTS ix_customer_sort_email_lower",
    "DROP INDEX IF EXISTS ix_customer_sort_name_lower",
    "DROP INDEX IF EXISTS ix_customer_company_lower",
    "DROP INDEX IF EXISTS ix_customer_email_lower",
    "DROP INDEX IF EXISTS ix_customer_name_lower",
    "DROP TABLE IF EXISTS customer_search",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(SQLITE_UP if dialect == "sqlite" else POSTGRES_UP)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(SQLITE_DOWN if dialect == "sqlite" else POSTGRES_DOWN)
