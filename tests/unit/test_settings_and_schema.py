"""Settings precedence and errors; the schema revision constant; the SQLite file's safety."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm_tui.cli import main
from crm_tui.config import ConfigError, load_settings
from crm_tui.migrations import SCHEMA_REVISION
from crm_tui.services.database import alembic_head, create_db_engine, current_revision, upgrade


def test_schema_revision_constant_is_alembics_head() -> None:
    assert alembic_head() == SCHEMA_REVISION


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('theme = "from-file"\ndatabase_url = "sqlite:///file.db"\n')
    settings = load_settings(
        flags={"database_url": "sqlite:///flag.db"},
        environ={"CRM_THEME": "from-env", "CRM_DATABASE_URL": "sqlite:///env.db"},
        config_path=config,
    )
    assert settings.theme == "from-env"
    assert settings.database_url == "sqlite:///flag.db"


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('theme = "ok"\nreadonly = = true\n')
    with pytest.raises(ConfigError, match=r"config\.toml.*line 2"):
        load_settings(environ={}, config_path=config)


CONFIG = """# the team's settings
theme = "textual-dark"

[smtp]
host = "smtp.example.com"
sender = "support@example.com"
{smtp}

[approvals]
{approvals}
"""


@pytest.mark.parametrize(
    ("smtp", "approvals", "line", "expected"),
    [
        ('port = "many"', "", 7, r"smtp\.port = 'many' is not a valid int"),
        ("port = 70000", "", 7, r"smtp\.port = 70000 is not a port"),
        ("hostname = 1", "", 7, r"unknown setting 'smtp\.hostname'"),
        ("", 'refund_above = "lots"', 10, r"'lots' is not an amount"),
        ("", "expiry_hours = 0", 10, r"approvals\.expiry_hours = 0 is out of range"),
        ("", "colour = 1", 10, r"unknown setting 'approvals\.colour'"),
    ],
)
def test_a_bad_value_names_the_file_and_its_line(
    tmp_path: Path, smtp: str, approvals: str, line: int, expected: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(smtp=smtp, approvals=approvals), encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as refused:
        load_settings(environ={}, config_path=config)
    assert str(refused.value).startswith(f"{config}, line {line}: ")


def test_a_config_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b'theme = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_settings(environ={}, config_path=config)


def test_unknown_setting_and_bad_type_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("colour = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(environ={}, config_path=config)
    with pytest.raises(ConfigError, match="CRM_REFUND_WINDOW_DAYS"):
        load_settings(environ={"CRM_REFUND_WINDOW_DAYS": "soon"}, config_path=config.parent / "x")


def test_default_database_lives_in_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    settings = load_settings(config_path=tmp_path / "c")
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / 'crm.sqlite3'}"


def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "crm.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_db_upgrade_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert f"to {SCHEMA_REVISION}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert f"already at {SCHEMA_REVISION}" in capsys.readouterr().out
    assert current_revision(sa.create_engine(url)) == SCHEMA_REVISION


def test_config_error_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("theme = \n")
    monkeypatch.setenv("CRM_CONFIG", str(config))
    assert main(["db", "upgrade"]) == 2
    assert str(config) in capsys.readouterr().err
