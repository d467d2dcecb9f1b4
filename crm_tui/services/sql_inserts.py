"""INSERT … SELECT that skips rows whose key already exists, on SQLite and PostgreSQL.

Set-based writers (segments, bulk tagging) insert many rows at once while another
transaction may have written one of them: ON CONFLICT DO NOTHING keeps the
statement from failing on that one row. It is also the cheap way to skip rows
that exist: one index probe each, where a NOT EXISTS anti-join can be planned by
PostgreSQL as a nested loop over the table being written (its statistics still
say it holds none of this statement's rows), which is quadratic.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_ignoring_duplicates(
    connection: Connection,
    table: sa.Table,
    columns: list[str],
    rows: sa.Select[Any],
    parameters: dict[str, Any] | None = None,
) -> int:
    """INSERT … SELECT … ON CONFLICT DO NOTHING; the number of rows inserted."""
    dialect = connection.dialect.name
    # SQLite reads "ON CONFLICT" after a SELECT without WHERE as part of a join:
    # a WHERE (true, if nothing else) settles it (its documented parsing ambiguity).
    rows = rows.where(sa.true())
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).from_select(columns, rows)
        statement = statement.on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).from_select(columns, rows).on_conflict_do_nothing()
    else:  # pragma: no cover - the app runs on SQLite and PostgreSQL
        statement = sa.insert(table).from_select(columns, rows)
    # Only UPDATE and DELETE keep their row count unless asked (SQLAlchemy 2).
    result = connection.execute(
        statement.execution_options(preserve_rowcount=True), parameters or {}
    )
    return max(int(result.rowcount or 0), 0)
