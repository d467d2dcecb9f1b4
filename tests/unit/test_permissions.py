"""Roles at the service layer and from the command line (both databases).

Each role is allowed and refused what permissions.py says, through the real
services — so the TUI, the command line and scripts meet the same rule — and the
command line identifies the person by their operating-system login."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui import cli
from crm_tui.models import tables as t
from crm_tui.models.enums import AgentRole, ApprovalKind
from crm_tui.services import agents
from crm_tui.services.actor import Actor, os_login
from crm_tui.services.approvals import ApprovalService
from crm_tui.services.audit import AuditLog
from crm_tui.services.bulk_edit import BulkEditService
from crm_tui.services.customer_edit import CustomerEditService, NoteInput
from crm_tui.services.customer_export import CustomerExport
from crm_tui.services.escalations import EscalationService
from crm_tui.services.permissions import NotAllowed
from tests.factories import add_agent, add_customer

T = t.SQLModel.metadata.tables
LOGINS = {
    "agent": {"role": "agent"},
    "manager": {"role": "manager"},
    "admin": {"role": "admin"},
    "reader": {"role": "manager", "readonly": True},
    "gone": {"role": "admin", "active": False},
}


@pytest.fixture
def staff(engine: Engine) -> dict[str, Actor]:
    """One person of each kind, identified as the app does (the disabled one by id)."""
    with engine.begin() as c:
        ids = {name: add_agent(c, name, **values) for name, values in LOGINS.items()}
    found = {name: agents.identify(engine, name) for name in LOGINS if name != "gone"}
    found["gone"] = Actor.agent("gone", ids["gone"], AgentRole.ADMIN)
    return found


@pytest.fixture
def ada(engine: Engine) -> int:
    with engine.begin() as c:
        return add_customer(c, name="Ada Lovelace", email="ada@example.com")


def _note(engine: Engine, ada: int) -> Callable[[Actor], Any]:
    note = NoteInput(type="phone", summary="Called back about billing")
    return lambda actor: CustomerEditService(engine).add_note(ada, note, actor)


def _tag_all(engine: Engine, ada: int) -> Callable[[Actor], Any]:
    selection = sa.select(T["customer"].c.id)
    return lambda actor: BulkEditService(engine).add_tag(selection, "vip", actor)


def _export(engine: Engine, folder: Path) -> Callable[[Actor], Any]:
    selection = sa.select(T["customer"].c.id)
    return lambda actor: CustomerExport(engine).write(
        selection, folder / f"{actor.username}.csv", actor
    )


def _ask(engine: Engine, ada: int) -> Callable[[Actor], Any]:
    return lambda actor: ApprovalService(engine).request(
        ApprovalKind.DELETION, ada, {}, "written GDPR request", actor
    )


def _resolve(engine: Engine, ada: int, staff: dict[str, Actor]) -> Callable[[Actor], Any]:
    escalations = EscalationService(engine)
    escalation = next(
        iter(escalations.open_escalations(staff["admin"])), None
    ) or escalations.escalate(ada, "threatens a chargeback", staff["agent"])

    def resolve(actor: Actor) -> Any:
        return EscalationService(engine).resolve(escalation.id, "called, refunded", actor)

    return resolve


def _add_agent(engine: Engine) -> Callable[[Actor], Any]:
    return lambda actor: agents.add_agent(engine, actor, f"new-{actor.username}")


# action → who may do it (everyone else is refused)
ALLOWED = {
    "note": {"agent", "manager", "admin"},
    "tag_all": {"agent", "manager", "admin"},
    "export": {"agent", "manager", "admin", "reader"},
    "ask_approval": {"agent", "manager", "admin"},
    "resolve_escalation": {"manager", "admin"},
    "add_agent": {"admin"},
}


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_each_role_allowed_and_refused_at_the_service_layer(
    engine: Engine, staff: dict[str, Actor], ada: int, tmp_path: Path, action: str
) -> None:
    build = {
        "note": lambda: _note(engine, ada),
        "tag_all": lambda: _tag_all(engine, ada),
        "export": lambda: _export(engine, tmp_path),
        "ask_approval": lambda: _ask(engine, ada),
        "resolve_escalation": lambda: _resolve(engine, ada, staff),
        "add_agent": lambda: _add_agent(engine),
    }[action]
    for who, actor in staff.items():
        do = build()
        if who in ALLOWED[action]:
            do(actor)
            if action == "ask_approval":  # one pending request per customer: clear it
                with engine.begin() as c:
                    c.execute(sa.delete(T["deletion_request"]))
                    c.execute(sa.delete(T["approval_request"]))
            continue
        with pytest.raises(NotAllowed) as refused:
            do(actor)
        reason = refused.value.message
        # The role is said first; a reader (a manager) may be refused for either.
        expected = {"reader": ("has read-only access", "only admins"), "gone": ("inactive",)}
        assert any(part in reason for part in expected.get(who, ("only ",))), (who, reason)


def test_a_read_only_session_cannot_change_whatever_the_role(
    engine: Engine, staff: dict[str, Actor], ada: int
) -> None:
    admin = agents.identify(engine, "admin", readonly=True)
    with pytest.raises(NotAllowed, match="read-only"):
        _note(engine, ada)(admin)
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(T["note"])).scalar() == 0


def test_identify_refuses_unknown_and_disabled_and_makes_the_first_an_admin(
    engine: Engine,
) -> None:
    first = agents.identify(engine, "first.person")
    assert first.role == AgentRole.ADMIN and first.agent_id is not None
    with pytest.raises(agents.AgentRefused, match="agents add stranger"):
        agents.identify(engine, "stranger")
    agents.add_agent(engine, first, "kim", role=AgentRole.AGENT, display_name="Kim Park")
    assert agents.identify(engine, "kim").display_name == "Kim Park"
    agents.set_active(engine, first, "kim", False)
    with pytest.raises(agents.AgentRefused, match="disabled"):
        agents.identify(engine, "kim")
    with pytest.raises(agents.AgentAdminError, match="last active admin"):
        agents.set_role(engine, first, "first.person", AgentRole.MANAGER)
    actions = [e.action for e in reversed(AuditLog(engine).entries())]
    assert actions == ["agent.add", "agent.add", "agent.disable"]


def test_a_demoted_agent_is_refused_at_once(engine: Engine, staff: dict[str, Actor]) -> None:
    agents.set_role(engine, staff["admin"], "manager", AgentRole.AGENT)
    with pytest.raises(NotAllowed, match="only managers or admins"):
        ApprovalService(engine).decide(1, True, "approve it now", staff["manager"])


# ---------------------------------------------------------------- command line


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_first_person_admin_then_agents_commands(
    capsys: pytest.CaptureFixture[str], db_url: str, engine: Engine
) -> None:
    me = os_login()
    url = ("--database-url", db_url)
    status, out, _ = _cli(capsys, "agents", "list", "--json", *url)
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and (row["username"], row["role"]) == (me, "admin")
    assert _cli(capsys, "agents", "add", "kim", "--role", "manager", "--name", "Kim", *url)[0] == 0
    assert _cli(capsys, "agents", "set-role", "kim", "agent", *url)[0] == 0
    assert _cli(capsys, "agents", "set-readonly", "kim", "on", *url)[0] == 0
    assert _cli(capsys, "agents", "disable", "kim", *url)[0] == 0
    status, out, _ = _cli(capsys, "agents", "list", *url)
    assert "kim" in out and "agent    disabled, read-only  Kim" in out
    status, _, err = _cli(capsys, "agents", "add", "kim", *url)
    assert status == 2 and "already an agent" in err
    status, _, err = _cli(capsys, "agents", "add", "no spaces;", *url)
    assert status == 2 and "is not a login name" in err


@pytest.mark.parametrize(
    ("role", "command", "refusal"),
    [
        ("agent", ("agents", "add", "kim"), "only admins can add agents"),
        ("manager", ("agents", "disable", "x"), "only admins can manage agents"),
        ("agent", ("audit", "show"), "only managers or admins can read the audit trail"),
        ("readonly", ("segments", "recompute"), "read-only access"),
    ],
)
def test_cli_refuses_what_the_role_cannot_do(
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    engine: Engine,
    role: str,
    command: tuple[str, ...],
    refusal: str,
) -> None:
    with engine.begin() as c:
        add_agent(c, "someone.else", role="admin")
        values = {"role": "agent", "readonly": True} if role == "readonly" else {"role": role}
        add_agent(c, os_login(), **values)
    status, out, err = _cli(capsys, *command, "--database-url", db_url)
    assert status == 2 and refusal in err and out == ""


def test_cli_refuses_an_unknown_or_disabled_login(
    capsys: pytest.CaptureFixture[str], db_url: str, engine: Engine
) -> None:
    with engine.begin() as c:
        add_agent(c, "someone.else", role="admin")
    status, _, err = _cli(capsys, "customers", "search", "ada", "--database-url", db_url)
    assert status == 2 and f"crm-tui agents add {os_login()}" in err
    with engine.begin() as c:
        add_agent(c, os_login(), active=False)
    status, _, err = _cli(capsys, "customers", "search", "ada", "--database-url", db_url)
    assert status == 2 and "disabled" in err
