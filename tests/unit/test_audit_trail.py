"""Every read of a profile, every search and every change writes an audit entry —
through the services, so the TUI, the command line and tests all meet it — and
`crm-tui audit verify|show` read the trail from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui import cli
from crm_tui.models import tables as t
from crm_tui.services.actor import Actor, os_login
from crm_tui.services.audit import AuditLog
from crm_tui.services.customer_edit import CustomerDetails, CustomerEditService
from crm_tui.services.customer_import import import_customers
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from crm_tui.services.escalations import EscalationService
from crm_tui.services.profile import ProfileService
from tests.factories import add_agent, add_customer

_audit = t.SQLModel.metadata.tables["audit_entry"]
DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def maria(engine: Engine) -> Actor:
    with engine.begin() as c:
        return Actor.agent("maria", agent_id=add_agent(c, "maria", display_name="Maria Lopez"))


@pytest.fixture
def ada(engine: Engine) -> int:
    with engine.begin() as c:
        return add_customer(c, name="Ada Lovelace", email="ada@example.com")


def test_a_change_records_who_what_and_before_and_after(
    engine: Engine, maria: Actor, ada: int
) -> None:
    details = CustomerDetails(name="Ada King", email="ada@example.com", country="GB")
    CustomerEditService(engine).update_details(ada, 1, details, maria)
    (entry,) = AuditLog(engine).entries(customer_id=ada)
    assert (entry.action, entry.agent_username, entry.customer_id) == (
        "customer.profile",
        "maria",
        ada,
    )
    assert entry.details["summary"].startswith("Changed name")
    assert entry.before == {"name": "Ada Lovelace"}
    assert entry.after == {"name": "Ada King"}


def test_each_kind_of_change_leaves_an_entry(engine: Engine, maria: Actor, ada: int) -> None:
    edits = CustomerEditService(engine)
    edits.add_tag(ada, "vip", maria)
    edits.remove_tag(ada, "vip", maria)
    EscalationService(engine).escalate(ada, "Charged twice for March", maria)
    actions = [(e.action, e.details["summary"]) for e in AuditLog(engine).entries(customer_id=ada)]
    assert actions[1:] == [
        ("customer.profile", "Removed the tag vip"),
        ("customer.profile", "Tagged vip"),
    ]
    assert actions[0][0] == "customer.support" and "Charged twice for March" in actions[0][1]
    assert AuditLog(engine).verify().ok


def test_a_profile_read_is_a_view_and_the_profile_lists_its_viewers(
    engine: Engine, maria: Actor, ada: int
) -> None:
    profiles = ProfileService(engine)
    profiles.overview(ada, maria)
    profiles.overview(ada, Actor.agent("ben"))
    shown = profiles.overview(ada, maria)
    views = AuditLog(engine).entries(customer_id=ada, action="customer.view")
    assert [v.agent_username for v in views] == ["maria", "ben", "maria"]
    assert [login for login, _at in shown.viewers] == ["maria", "ben"]  # each once, newest
    profiles.overview(ada, maria, record_view=False)  # the screen reloading: not a view
    assert len(AuditLog(engine).entries(action="customer.view")) == 3


def test_a_search_is_recorded_with_what_was_asked_and_how_many_matched(
    engine: Engine, maria: Actor, ada: int
) -> None:
    service = DirectoryService(engine)
    query = DirectoryQuery(search="lovelace")
    service.record_search(query, maria, service.count(query, maria))
    (entry,) = AuditLog(engine).entries(action="directory.search")
    assert entry.details == {"search": "lovelace", "filters": [], "matches": "1"}


def test_an_import_is_one_entry(engine: Engine) -> None:
    report = import_customers(engine, DATA / "customers_good.csv", Actor.system())
    (entry,) = AuditLog(engine).entries(action="customers.import")
    assert entry.details["imported"] == report.imported > 0
    assert entry.details["file"] == "customers_good.csv"


# --------------------------------------------------------------- command line


def _cli(capsys: pytest.CaptureFixture[str], db_url: str, *args: str) -> tuple[int, str]:
    status = cli.main([*args, "--database-url", db_url])
    return status, capsys.readouterr().out


@pytest.fixture
def trail(engine: Engine, maria: Actor, ada: int) -> AuditLog:
    with engine.begin() as c:  # the person running the command reads the trail: an admin
        add_agent(c, os_login(), role="admin")
    profiles = ProfileService(engine)
    for _ in range(3):
        profiles.overview(ada, maria)
    CustomerEditService(engine).add_tag(ada, "vip", maria)
    profiles.overview(ada, Actor.agent("ben"))
    return AuditLog(engine)  # entries 1..5


def test_cli_verify_says_intact(
    capsys: pytest.CaptureFixture[str], db_url: str, trail: AuditLog
) -> None:
    status, out = _cli(capsys, db_url, "audit", "verify")
    assert status == 0 and out.startswith("Audit trail intact: 5 entries")


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("edit", 4),
        ("delete", 4),  # 3 is gone: 4 is the first that does not follow
        ("reorder", 2),
    ],
)
def test_cli_verify_names_the_first_bad_entry(
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    engine: Engine,
    trail: AuditLog,
    tamper: str,
    named: int,
) -> None:
    with engine.begin() as c:
        if tamper == "edit":  # someone changes what the tag was
            c.execute(
                sa.update(_audit).where(_audit.c.seq == 4).values(details={"summary": "Tagged x"})
            )
        elif tamper == "delete":  # someone removes a view
            c.execute(sa.delete(_audit).where(_audit.c.seq == 3))
        else:  # someone swaps two entries
            c.execute(sa.update(_audit).where(_audit.c.seq == 2).values(seq=-2))
            c.execute(sa.update(_audit).where(_audit.c.seq == 5).values(seq=2))
            c.execute(sa.update(_audit).where(_audit.c.seq == -2).values(seq=5))
    status, out = _cli(capsys, db_url, "audit", "verify")
    assert status == 1
    assert out.startswith(f"Audit trail BROKEN at entry {named}:")


def test_cli_show_filters_by_customer_and_agent(
    capsys: pytest.CaptureFixture[str], db_url: str, trail: AuditLog, ada: int
) -> None:
    status, out = _cli(capsys, db_url, "audit", "show", "--agent", "ben", "--json")
    (line,) = out.splitlines()
    assert status == 0 and json.loads(line)["action"] == "customer.view"
    status, out = _cli(capsys, db_url, "audit", "show", "--customer", str(ada))
    lines = out.splitlines()
    assert len(lines) == 5 and "Tagged vip" in lines[1] and "maria" in lines[1]
