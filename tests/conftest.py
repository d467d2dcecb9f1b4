"""Shared fixtures: real databases on both engines.

`engine` is parametrized over SQLite (a real file, migrated) and PostgreSQL (a real
server, from CRM_TEST_POSTGRES_URL). Where that variable is unset, the PostgreSQL
runs are skipped — and said to be skipped, in the header and the summary.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from crm_tui.services.database import create_db_engine, upgrade

# Real peers (servers started by fixtures): imported so every test can use them.
from tests.support.localstripe_server import _localstripe_server, localstripe  # noqa: F401
from tests.support.paypal_fake import paypal_fake  # noqa: F401
from tests.support.smtp_server import smtp_server  # noqa: F401

POSTGRES_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "")
SKIP_POSTGRES_REASON = "CRM_TEST_POSTGRES_URL is not set: PostgreSQL runs SKIPPED"


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES_URL:
        return f"PostgreSQL tests: {make_url(POSTGRES_URL).render_as_string(hide_password=True)}"
    return f"WARNING: {SKIP_POSTGRES_REASON}"


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every test away from the real config and data folders of the machine."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CRM_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("CRM_DATA_DIR", str(home / "data"))
    for variable in ("CRM_DATABASE_URL", "CRM_CONFIG", "CRM_THEME", "CRM_READONLY", "CRM_TIMEZONE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TZ", "UTC")  # the agent's zone, where a screen shows it: the same anywhere


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file; each test gets a copy (migrating is slower)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the test server for this session, migrated, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES_REASON)
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"crm_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class PostgresTemplates:
    """Databases filled once per session and copied for each test: CREATE DATABASE …
    TEMPLATE copies 100,000 customers in ~0.2 s, where inserting them again takes ~18 s
    (each row goes through the search triggers)."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        self.made: list[str] = []
        self.filled: dict[str, str] = {}

    def copy(self, key: str, fill: Callable[[str], None]) -> str:
        """A new database holding what `fill` put into the template `key`."""
        if key not in self.filled:
            template = self._create()
            url = self._url(template)
            engine = create_db_engine(url)
            upgrade(engine)
            engine.dispose()
            fill(url)
            self.filled[key] = template
        return self._url(self._create(template=self.filled[key]))

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in reversed(self.made):
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()

    def _create(self, template: str = "") -> str:
        name = f"crm_test_{uuid.uuid4().hex[:10]}"
        copying = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copying}')
        self.made.append(name)
        return name

    @staticmethod
    def _url(name: str) -> str:
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[PostgresTemplates]:
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES_REASON)
    templates = PostgresTemplates()
    try:
        yield templates
    finally:
        templates.drop_all()


def _truncate_all(engine: Engine) -> None:
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        connection.exec_driver_sql(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "crm.sqlite3"
    shutil.copyfile(sqlite_template, path)
    path.chmod(0o600)  # as the app creates it (doctor checks it)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database URL: a SQLite file, then the PostgreSQL server."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return empty_postgres_url(request)


def empty_postgres_url(request: pytest.FixtureRequest) -> str:
    """The session's PostgreSQL database, emptied for this test (ids start at 1 again)."""
    url = str(request.getfixturevalue("postgres_database"))
    engine = create_db_engine(url)
    _truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()
