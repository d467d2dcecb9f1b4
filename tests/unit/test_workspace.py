"""Opening the app's database: migrate with a notice, seed the demo once, fail with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_tui.config import DEMO_CUSTOMERS, Settings
from crm_tui.migrations import SCHEMA_REVISION
from crm_tui.services.database import DatabaseError
from crm_tui.services.workspace import open_workspace, short_database_label


def test_fresh_file_is_migrated_and_said_so(tmp_path: Path) -> None:
    notices: list[str] = []
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    workspace = open_workspace(Settings(database_url=url), notices.append)
    assert workspace.migrated_from is None or workspace.migrated_from == ""
    assert notices == [f"Database migrated from empty to {SCHEMA_REVISION}"]
    assert workspace.short_label == "crm.sqlite3"
    workspace.close()
    notices.clear()
    open_workspace(Settings(database_url=url), notices.append).close()
    assert notices == []  # already current: nothing to say


def test_demo_is_seeded_on_first_use_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    notices: list[str] = []
    workspace = open_workspace(Settings(demo=True), notices.append)
    assert workspace.demo_seeded == DEMO_CUSTOMERS
    assert workspace.label == str(tmp_path / "demo.sqlite3")
    assert any("Demo database ready" in notice for notice in notices)
    workspace.close()
    again = open_workspace(Settings(demo=True))
    assert again.demo_seeded == 0
    again.close()


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(DatabaseError, match="cannot open"):
        open_workspace(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))


def test_labels_never_show_a_password() -> None:
    url = "postgresql+psycopg://agent:s3cret@db.internal/crm"
    assert short_database_label(url) == "db.internal/crm"
    from crm_tui.services.workspace import database_label

    assert "s3cret" not in database_label(url)
