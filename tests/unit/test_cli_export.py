"""`crm-tui export customers FILE [QUERY] [filters] [--force]`: the search and filters
of `customers search`, a message on stderr, exit 2 when the file cannot be written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from crm_tui import cli
from crm_tui.services.actor import os_login
from crm_tui.services.audit import AuditLog
from tests.factories import add_customer


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def names(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as file:
        return [row[0] for row in csv.reader(file)][1:]


@pytest.fixture
def people(engine: Engine) -> None:
    with engine.begin() as c:
        for n in range(3):
            add_customer(c, name=f"Smith {n}", email=f"s{n}@example.com", lifecycle_status="active")
        add_customer(c, name="Smith Churned", email="sc@example.com", lifecycle_status="churned")
        add_customer(c, name="Jones", email="jones@example.com", lifecycle_status="active")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    exports = tmp_path / "exports"
    exports.mkdir()
    return exports


def test_exports_the_matches_of_a_search_and_filters(
    capsys: pytest.CaptureFixture[str], db_url: str, engine: Engine, people: None, folder: Path
) -> None:
    path = folder / "smiths.csv"
    status, out, err = run_cli(
        capsys, "export", "customers", str(path), "smith", "--status", "active",
        "--database-url", db_url,
    )  # fmt: skip
    assert (status, out, err) == (0, [], [f"Exported 3 customers to {path}"])
    assert names(path) == ["Smith 0", "Smith 1", "Smith 2"]
    [entry] = AuditLog(engine).entries(action="customers.export")
    # The person running the command, made the admin of this agent-less database.
    assert entry.agent_username == os_login()
    assert entry.details == {
        "count": 3,
        "file": "smiths.csv",
        "replaced": False,
        "selection": "every match of search 'smith'; status: active",
    }


def test_no_query_exports_everyone(
    capsys: pytest.CaptureFixture[str], db_url: str, people: None, folder: Path
) -> None:
    path = folder / "all.csv"
    status, _, err = run_cli(capsys, "export", "customers", str(path), "--database-url", db_url)
    assert (status, err) == (0, [f"Exported 5 customers to {path}"])
    assert len(names(path)) == 5


def test_an_existing_file_needs_force(
    capsys: pytest.CaptureFixture[str], db_url: str, people: None, folder: Path
) -> None:
    path = folder / "out.csv"
    path.write_text("keep me")
    command = ("export", "customers", str(path), "jones", "--database-url", db_url)
    status, out, err = run_cli(capsys, *command)
    assert (status, out) == (2, [])
    assert err == [f"crm-tui: {path} exists: nothing was written (--force replaces it)"]
    assert path.read_text() == "keep me"
    status, _, err = run_cli(capsys, *command, "--force")
    assert (status, err) == (0, [f"Exported 1 customer to {path}"])
    assert names(path) == ["Jones"]


def test_a_missing_folder_or_a_bad_filter_exits_2(
    capsys: pytest.CaptureFixture[str], db_url: str, people: None, folder: Path
) -> None:
    path = folder / "missing" / "out.csv"
    status, _, err = run_cli(capsys, "export", "customers", str(path), "--database-url", db_url)
    assert status == 2
    assert err == [
        f"crm-tui: cannot write {path}: there is no folder {path.parent}; nothing was written"
    ]
    status, _, err = run_cli(
        capsys, "export", "customers", str(folder / "x.csv"), "--ltv-min", "lots",
        "--database-url", db_url,
    )  # fmt: skip
    assert status == 2
    assert err == ["crm-tui: 'lots' is not an amount: write it like 1234.50"]
    assert list(folder.iterdir()) == []


def test_sort_options_are_not_offered(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    """Rows come in id order: a --sort that did nothing would mislead."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(["export", "customers", str(folder / "x.csv"), "--sort", "name"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --sort" in capsys.readouterr().err
