"""Right to erasure, end to end at the service layer (both databases): an agent asks,
a different manager approves, and then the person's data is gone from every table
and from search, the financial records remain with their amounts and dates, and the
audit trail records each step (and still verifies)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.models.enums import ApprovalKind, RequestStatus
from crm_tui.services.actor import Actor
from crm_tui.services.agents import identify
from crm_tui.services.approvals import ApprovalRefused, ApprovalService
from crm_tui.services.audit import AuditLog
from crm_tui.services.demo_seed import SHOWCASE, seed_demo
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from crm_tui.services.erasure import ERASED
from crm_tui.services.permissions import NotAllowed
from crm_tui.services.profile import ProfileService
from tests.factories import add_email, add_escalation, add_note, add_ticket

T = t.SQLModel.metadata.tables
CUSTOMER = SHOWCASE["loyal_upgrader"]
NOTE = "Called from her mobile, asked about the Hartmann family plan"
# Money rows: what the law keeps, compared before and after.
FINANCIAL = {
    "payment": ("id", "amount_minor", "currency", "refunded_minor", "status", "created_at"),
    "refund": ("id", "amount_minor", "currency", "status", "created_at"),
    "invoice": ("id", "number", "total_minor", "currency", "issued_at"),
    "customer_order": ("id", "number", "total_minor", "currency", "placed_at"),
    "subscription": ("id", "amount_minor", "currency", "started_at", "status"),
    "credit": ("id", "amount_minor", "currency", "created_at"),
}


@pytest.fixture
def people(engine: Engine) -> dict[str, Actor]:
    """The demo's agents as the app identifies them: an agent, a manager, an admin."""
    seed_demo(engine, 12, seed=3)
    return {
        "agent": identify(engine, "sofia.lindqvist"),
        "manager": identify(engine, "lukas.becker"),
        "admin": identify(engine, "amara.okafor"),
    }


@pytest.fixture
def person(engine: Engine, people: dict[str, Actor]) -> dict[str, str]:
    """The showcase customer with a row in every table that can hold what identifies
    them, seen and searched for by the agent; what identifies them, to look for."""
    customer = T["customer"]
    with engine.begin() as c:
        c.execute(
            sa.update(customer).where(customer.c.id == CUSTOMER).values(phone="+49 151 2345 6789")
        )
        row = c.execute(sa.select(customer).where(customer.c.id == CUSTOMER)).one()
        add_note(c, CUSTOMER, summary=NOTE)
        add_ticket(c, CUSTOMER, subject=f"Invoice for {row.name}")
        add_escalation(c, CUSTOMER, reason=f"{row.name} threatens to leave")
        add_email(c, CUSTOMER, to_address=row.email, body=f"Dear {row.name}")
        address = c.execute(
            sa.select(T["address"].c.line1).where(T["address"].c.customer_id == CUSTOMER)
        ).first()
    agent = people["agent"]
    ProfileService(engine).profile(CUSTOMER, agent)
    directory = DirectoryService(engine)
    surname = row.name.split()[-1]
    for text in (surname, row.email, "nobody-like-this"):
        query = DirectoryQuery(search=text)
        directory.record_search(query, agent, directory.count(query, agent))
    found = {"name": row.name, "email": row.email, "phone": "2345 6789", "note": "Hartmann"}
    if address is not None:
        found["address"] = address.line1
    return found


def _financial(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    payments = sa.select(T["payment"].c.id).where(T["payment"].c.customer_id == CUSTOMER)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as c:
        for name, columns in FINANCIAL.items():
            table = T[name]
            where = (
                table.c.payment_id.in_(payments)
                if name == "refund"
                else table.c.customer_id == CUSTOMER
            )
            select = sa.select(*(table.c[col] for col in columns)).where(where)
            rows[name] = sorted(tuple(r) for r in c.execute(select.order_by(table.c.id)))
    return rows


def _everything_stored(engine: Engine) -> str:
    """Every value of every table (the search index and the audit trail included)."""
    parts: list[str] = []
    with engine.connect() as c:
        for name in sa.inspect(engine).get_table_names():
            for row in c.execute(sa.text(f'SELECT * FROM "{name}"')):
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(value.decode("utf-8", "ignore"))
                    elif isinstance(value, dict | list):
                        parts.append(json.dumps(value, ensure_ascii=False))
                    elif value is not None:
                        parts.append(str(value))
    return "\n".join(parts).casefold()


def test_agent_asks_a_manager_approves_and_the_person_is_gone(
    engine: Engine, people: dict[str, Actor], person: dict[str, str]
) -> None:
    agent, manager = people["agent"], people["manager"]
    stored = _everything_stored(engine)
    assert all(value.casefold() in stored for value in person.values())  # the test sees them
    money_before = _financial(engine)
    assert money_before["payment"] and money_before["subscription"]

    approvals = ApprovalService(engine)
    asked = approvals.request(
        ApprovalKind.DELETION, CUSTOMER, {}, "Customer's written GDPR request of 20 Nov", agent
    )
    assert asked.status == RequestStatus.PENDING
    with pytest.raises(NotAllowed, match="only managers or admins"):
        approvals.decide(asked.id, True, "looks fine", agent)  # an agent cannot approve
    assert approvals.pending() == [approvals.get(asked.id)]
    done = approvals.decide(asked.id, True, "Identity checked by phone", manager)
    assert done.status == RequestStatus.EXECUTED

    stored = _everything_stored(engine)
    for what, value in person.items():
        assert value.casefold() not in stored, f"the {what} is still stored"
    directory = DirectoryService(engine)
    for text in (person["name"], person["email"], person["phone"]):
        assert directory.count(DirectoryQuery(search=text), manager).value == 0, text
    assert _financial(engine) == money_before

    with engine.connect() as c:
        customer = c.execute(sa.select(T["customer"]).where(T["customer"].c.id == CUSTOMER)).one()
        deletion = c.execute(sa.select(T["deletion_request"])).one()
        notes = c.execute(
            sa.select(T["note"].c.summary).where(T["note"].c.customer_id == CUSTOMER)
        ).scalars()
        assert set(notes) == {ERASED}
    assert customer.erased_at is not None and customer.name == f"Erased customer #{CUSTOMER}"
    assert (deletion.status, deletion.approval_id) == ("executed", asked.id)

    trail = AuditLog(engine)
    steps = [e.action for e in reversed(trail.entries(customer_id=CUSTOMER))]
    assert steps[-3:] == ["approval.request", "approval.approve", "customer.erase"]
    assert "customer.view" in steps  # redacted, but who looked and when is still there
    (erase,) = trail.entries(action="customer.erase")
    assert erase.agent_username == "lukas.becker"
    assert erase.details["approval_id"] == asked.id
    assert erase.details["requested_by"] == "Sofia Lindqvist"
    assert len(erase.details["redacted_searches"]) == 2  # her surname, her email: not the third
    searches = trail.entries(action="directory.search")
    assert [s.redacted for s in searches].count(False) == 1
    report = trail.verify()
    assert report.ok, report.summary()


def test_a_request_cannot_be_approved_by_who_asked(
    engine: Engine, people: dict[str, Actor]
) -> None:
    manager = people["manager"]
    approvals = ApprovalService(engine)
    asked = approvals.request(ApprovalKind.DELETION, CUSTOMER, {}, "GDPR request", manager)
    with pytest.raises(NotAllowed, match="another manager must decide it"):
        approvals.decide(asked.id, True, "my own request", manager)
    rejected = approvals.decide(asked.id, False, "no written request on file", people["admin"])
    assert rejected.status == RequestStatus.REJECTED
    with engine.connect() as c:
        assert c.execute(sa.select(T["customer"].c.erased_at).where(
            T["customer"].c.id == CUSTOMER
        )).scalar() is None  # fmt: skip
    with pytest.raises(ApprovalRefused, match="already rejected by Amara Okafor"):
        approvals.decide(asked.id, True, "changed my mind", people["admin"])


def test_one_pending_request_per_customer_and_expiry(
    engine: Engine, people: dict[str, Actor]
) -> None:
    from datetime import UTC, datetime, timedelta

    now = [datetime(2026, 11, 20, 9, 0, tzinfo=UTC)]
    approvals = ApprovalService(engine, expiry=timedelta(hours=24), clock=lambda: now[0])
    asked = approvals.request(ApprovalKind.DELETION, CUSTOMER, {}, "GDPR request", people["agent"])
    with pytest.raises(ApprovalRefused, match=f"already asked: request #{asked.id}"):
        approvals.request(ApprovalKind.DELETION, CUSTOMER, {}, "again", people["agent"])
    now[0] += timedelta(hours=25)
    assert approvals.pending() == []
    assert approvals.get(asked.id).status == RequestStatus.EXPIRED
    with pytest.raises(ApprovalRefused, match="already expired"):
        approvals.decide(asked.id, True, "late approval", people["manager"])
    again = approvals.request(ApprovalKind.DELETION, CUSTOMER, {}, "asked again", people["agent"])
    assert again.status == RequestStatus.PENDING


def test_an_erased_customer_cannot_be_asked_about_or_erased_twice(
    engine: Engine, people: dict[str, Actor]
) -> None:
    approvals = ApprovalService(engine)
    asked = approvals.request(ApprovalKind.DELETION, CUSTOMER, {}, "GDPR request", people["agent"])
    approvals.decide(asked.id, True, "identity checked", people["manager"])
    with pytest.raises(ApprovalRefused, match="was erased"):
        approvals.request(ApprovalKind.DELETION, CUSTOMER, {}, "again", people["agent"])
