"""Alembic environment: runs on the connection handed over by `services.database`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import crm_tui.models.tables  # noqa: F401  (registers the tables on the metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as connection:
            _run(connection)
        return
    _run(connection)


# Search structures are made by hand in 0002 (FTS5 shadow tables, customer_search):
# autogenerate must not offer to drop them.
_HAND_MADE = ("customer_fts", "customer_search")


def _include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    return not (type_ == "table" and reflected and str(name).startswith(_HAND_MADE))


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
