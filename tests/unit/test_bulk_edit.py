"""Bulk tag and assign over a selection of marked customers: preview writes nothing,
apply is one transaction (a stop changes nothing), one activity event per customer
changed and one audit entry for the whole action."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services import bulk_edit
from crm_tui.services.actor import Actor
from crm_tui.services.audit import AuditLog
from crm_tui.services.bulk_edit import BulkEditService, BulkStopped
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from crm_tui.services.tickets import NotAllowed
from tests.factories import add_agent, add_customer, add_tag

T = t.SQLModel.metadata.tables


def _count(engine: Engine, table: str, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as c:
        query = sa.select(sa.func.count()).select_from(T[table]).where(*where)
        return int(c.execute(query).scalar_one())


@pytest.fixture
def people(engine: Engine) -> dict[str, object]:
    """12 Smiths and 3 Joneses; Smith 1 already tagged vip; agents ana and ben."""
    with engine.begin() as c:
        ana = add_agent(c, "ana", display_name="Ana Ruiz")
        ben = add_agent(c, "ben", display_name="Ben Ode")
        smiths = [
            add_customer(c, name=f"Smith {n}", email=f"smith{n}@example.com") for n in range(12)
        ]
        for n in range(3):
            add_customer(c, name=f"Jones {n}", email=f"jones{n}@example.com")
        add_tag(c, smiths[1], "vip")
        c.execute(
            sa.update(T["customer"])
            .where(T["customer"].c.id == smiths[2])
            .values(assigned_agent_id=ben)
        )
    return {
        "ana": Actor.agent("ana", agent_id=ana),
        "ben": ben,
        "smiths": smiths,
    }


def _smiths(engine: Engine) -> sa.Select:  # type: ignore[type-arg]
    return DirectoryService(engine).marked_ids(DirectoryQuery(search="smith"), set())


def test_tag_preview_counts_and_writes_nothing(engine: Engine, people: dict) -> None:
    preview = BulkEditService(engine).tag_preview(_smiths(engine), " VIP ")
    assert (preview.marked, preview.changing) == (12, 11)
    assert "1 already tagged vip" in preview.unchanged_note
    assert len(preview.examples) == 3
    assert _count(engine, "customer_tag") == 1 and _count(engine, "audit_entry") == 0


def test_tag_every_match_once(
    engine: Engine, people: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = BulkEditService(engine)
    monkeypatch.setattr(bulk_edit, "CHUNK", 5)  # three chunks
    seen: list[tuple[int, int]] = []
    report = service.add_tag(
        _smiths(engine), "vip", people["ana"], progress=lambda d, n: seen.append((d, n))
    )
    assert (report.changed, report.marked) == (11, 12)
    assert seen[0] == (0, 11) and seen[-1] == (11, 11) and len(seen) == 4  # of those lacking it
    vip = _count(engine, "customer_tag")
    assert vip == 12
    events = T["activity_event"]
    assert _count(engine, "activity_event", events.c.summary == "Tagged vip") == 11
    entries = AuditLog(engine).entries(action="customers.bulk_tag")
    assert len(entries) == 1 and entries[0].details["tagged"] == 11
    assert entries[0].agent_username == "ana"
    # Again: nothing to do, no new events, one more audit entry (the attempt).
    again = service.add_tag(_smiths(engine), "vip", people["ana"])
    assert again.changed == 0
    assert _count(engine, "activity_event", events.c.summary == "Tagged vip") == 11
    assert AuditLog(engine).verify().ok


def test_a_stop_midway_changes_nothing(
    engine: Engine, people: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_edit, "CHUNK", 4)
    calls: list[int] = []

    def stop_after_first_chunk() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(BulkStopped, match="nothing was changed"):
        BulkEditService(engine).add_tag(
            _smiths(engine), "churn-risk", people["ana"], should_stop=stop_after_first_chunk
        )
    assert _count(engine, "customer_tag") == 1
    assert _count(engine, "tag", T["tag"].c.name == "churn-risk") == 0
    assert _count(engine, "activity_event") == 0 and _count(engine, "audit_entry") == 0


def test_bad_tag_is_refused(engine: Engine, people: dict) -> None:
    with pytest.raises(InvalidInput):
        BulkEditService(engine).tag_preview(_smiths(engine), "   ")
    with pytest.raises(InvalidInput):
        BulkEditService(engine).add_tag(_smiths(engine), "a\x00b", people["ana"])
    assert _count(engine, "tag") == 1


def test_readonly_agent_is_refused(engine: Engine, people: dict) -> None:
    with engine.begin() as c:
        reader = add_agent(c, "rita", readonly=True)
    with pytest.raises(NotAllowed):
        BulkEditService(engine).add_tag(_smiths(engine), "x", Actor.agent("rita", agent_id=reader))
    assert _count(engine, "customer_tag") == 1 and _count(engine, "audit_entry") == 0


def test_assign_by_name_and_unassign(engine: Engine, people: dict) -> None:
    service = BulkEditService(engine)
    preview = service.assign_preview(_smiths(engine), "ana ruiz")
    assert (preview.marked, preview.changing) == (12, 12)
    assert preview.caution == "1 of them are taken from another agent."
    assert "1 of them are taken from another agent." in preview.lines("assigned")
    report = service.assign(_smiths(engine), "ANA", people["ana"])
    customer = T["customer"]
    ana_id = people["ana"].agent_id  # type: ignore[attr-defined]
    assert report.changed == 12
    assert _count(engine, "customer", customer.c.assigned_agent_id == ana_id) == 12
    assert _count(engine, "customer", customer.c.assigned_agent_id.is_(None)) == 3
    events = T["activity_event"]
    assert _count(engine, "activity_event", events.c.summary == "Assigned to Ana Ruiz") == 12
    assert service.assign(_smiths(engine), "ana", people["ana"]).changed == 0
    gone = service.assign(_smiths(engine), "-", people["ana"])
    assert gone.changed == 12
    assert _count(engine, "customer", customer.c.assigned_agent_id.is_(None)) == 15
    assert [e.details["assigned"] for e in AuditLog(engine).entries()] == [12, 0, 12]


def test_assign_refuses_unknown_and_inactive_agents(engine: Engine, people: dict) -> None:
    with engine.begin() as c:
        add_agent(c, "old", display_name="Old Timer", active=False)
    service = BulkEditService(engine)
    with pytest.raises(InvalidInput, match="no agent called"):
        service.assign_preview(_smiths(engine), "zed")
    with pytest.raises(InvalidInput, match="inactive"):
        service.assign(_smiths(engine), "old timer", people["ana"])
    assert _count(engine, "activity_event") == 0


def test_a_marked_id_merged_away_is_not_counted(engine: Engine, people: dict) -> None:
    smiths = people["smiths"]
    selection = DirectoryService(engine).marked_ids(None, {smiths[0], smiths[3], 999_999})
    preview = BulkEditService(engine).tag_preview(selection, "call back")
    assert (preview.marked, preview.changing) == (2, 2)
    report = BulkEditService(engine).add_tag(selection, "call back", people["ana"])
    assert report.changed == 2
