"""Opening the database the app works on: connect, migrate, and seed the demo on first use.

The TUI calls `open_workspace` in a thread worker and reports each step on screen
("migrating…", "creating the demo database…"), so an agent never stares at a
frozen terminal and always learns what was done to their database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from crm_tui.config import DEMO_CUSTOMERS, Settings
from crm_tui.services.database import DatabaseError, create_db_engine, upgrade
from crm_tui.services.directory import DirectoryService

Progress = Callable[[str], None]


@dataclass
class Workspace:
    engine: Engine
    directory: DirectoryService
    label: str  # where the data lives, without any password
    short_label: str  # the same, short enough for a title bar at 80 columns
    migrated_from: str | None  # None: the schema was current
    demo_seeded: int  # customers created for the demo just now

    def close(self) -> None:
        self.engine.dispose()


def database_label(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def short_database_label(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database or ":memory:").name
    return f"{parsed.host or 'localhost'}/{parsed.database or ''}"


def _customer_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM customer")).scalar_one())


def open_workspace(settings: Settings, progress: Progress | None = None) -> Workspace:
    """Open (and migrate) the database of `settings`; seed the demo database when empty."""
    report = progress or (lambda _message: None)
    url = settings.resolved_database_url()
    label = database_label(url)
    try:
        engine = create_db_engine(url)
        migration = upgrade(engine)
    except sa.exc.SQLAlchemyError as error:
        raise DatabaseError(f"cannot open {label}: {_first_line(error)}") from None
    except OSError as error:
        raise DatabaseError(f"cannot open {label}: {error.strerror or error}") from None
    if migration.applied:
        report(f"Database migrated from {migration.before or 'empty'} to {migration.after}")
    seeded = 0
    if settings.demo and _customer_count(engine) == 0:
        from crm_tui.services.demo_seed import seed_demo  # only on the demo's first start

        report(f"Creating the demo database: {DEMO_CUSTOMERS:,} customers…")
        seeded = seed_demo(engine, DEMO_CUSTOMERS).customers
        report(f"Demo database ready: {seeded:,} customers")
    return Workspace(
        engine=engine,
        directory=DirectoryService(engine),
        label=label,
        short_label=short_database_label(url),
        migrated_from=migration.before if migration.applied else None,
        demo_seeded=seeded,
    )


def _first_line(error: sa.exc.SQLAlchemyError) -> str:
    original = getattr(error, "orig", None)
    return str(original or error).strip().splitlines()[0]
