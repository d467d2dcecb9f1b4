"""Opening the database: engines, SQLite pragmas, file permissions and migrations.

Only SQLAlchemy Core is imported here. SQLModel (and the ORM) costs most of a second
to import, and the app's cold start must not pay for it before the first frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from crm_tui.migrations import SCHEMA_REVISION

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def as_utc(moment: datetime) -> datetime:
    """A stored time, timezone-aware: times are stored in UTC, and SQLite hands them
    back without an offset."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class DatabaseError(Exception):
    """The database cannot be opened or migrated; the message says why and what to do."""


@dataclass(frozen=True)
class MigrationReport:
    before: str | None
    after: str

    @property
    def applied(self) -> bool:
        return self.before != self.after


def _prepare_sqlite_file(path: Path) -> None:
    """Create the folder (owner only) and the file (readable by its owner alone)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA cache_size=-8192")  # 8 MiB per connection: pooled connections add up
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


@contextmanager
def temporary_storage_on_disk(connection: sa.Connection) -> Iterator[None]:
    """For this connection, SQLite's temporary tables, sorts and statement journals in
    a temporary file (unlinked at once, owner-only) rather than in memory, where
    `temp_store=MEMORY` above keeps them: right for the small ones of every day, not
    for a million ids (an export) or the GROUP BY of 850,000 lifetime values
    (analytics: a third slower in memory). The setting is put back afterwards. Set it
    outside a transaction: SQLite refuses it inside. PostgreSQL: nothing to do."""
    if connection.dialect.name != "sqlite":
        yield
        return
    before = int(connection.exec_driver_sql("PRAGMA temp_store").scalar_one())
    connection.exec_driver_sql("PRAGMA temp_store=FILE")  # also drops leftover temp tables
    try:
        yield
    finally:
        if not connection.invalidated:
            connection.exec_driver_sql(f"PRAGMA temp_store={before}")


def create_db_engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file is created (0600) with WAL and foreign keys on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            _prepare_sqlite_file(Path(database))
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise DatabaseError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///PATH "
        "or postgresql+psycopg://USER@HOST/DB"
    )


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> MigrationReport:
    """Apply every migration not yet applied. Cheap when the schema is current."""
    try:
        before = current_revision(engine)
    except sa.exc.OperationalError as error:
        raise DatabaseError(f"cannot open the database: {error.orig}") from None
    if before == SCHEMA_REVISION:
        return MigrationReport(before, before)
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")
    return MigrationReport(before, current_revision(engine) or "")


def alembic_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    return head or ""
