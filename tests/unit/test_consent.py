"""Consent per purpose: every change is a new row, the newest is current, each change
leaves an activity event and an audit entry in the same transaction, and a refused
change (bad input, unknown or erased customer, read-only agent) writes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.models.enums import ConsentPurpose
from crm_tui.services.actor import Actor
from crm_tui.services.audit import AuditLog
from crm_tui.services.consent import ConsentService, ConsentState, CustomerErased
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.profile import CustomerNotFound
from crm_tui.services.tickets import NotAllowed
from tests.factories import T0, add_agent, add_customer

T = t.SQLModel.metadata.tables
MARKETING = ConsentPurpose.MARKETING_EMAIL


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(T[table])).scalar_one())


def _written(engine: Engine) -> tuple[int, int, int]:
    return (
        _count(engine, "consent"),
        _count(engine, "activity_event"),
        _count(engine, "audit_entry"),
    )


@pytest.fixture
def ana(engine: Engine) -> Actor:
    with engine.begin() as c:
        agent_id = add_agent(c, "ana", display_name="Ana Ruiz")
    return Actor.agent("ana", agent_id=agent_id, display_name="Ana Ruiz")


@pytest.fixture
def customer(engine: Engine) -> int:
    with engine.begin() as c:
        return add_customer(c)


def test_record_current_and_history(engine: Engine, ana: Actor, customer: int) -> None:
    service = ConsentService(engine)
    assert service.current(customer) == dict.fromkeys(ConsentPurpose)

    service.record(customer, MARKETING, True, "signup form", ana, at=T0)
    service.record(
        customer,
        "marketing_email",
        False,
        "email link",
        Actor.customer(),
        at=T0 + timedelta(days=1),
    )
    service.record(
        customer, ConsentPurpose.ANALYTICS, True, "agent", ana, at=T0 + timedelta(days=2)
    )

    current = service.current(customer)
    assert current[MARKETING] == ConsentState(False, "email link", T0 + timedelta(days=1))
    assert current[ConsentPurpose.ANALYTICS] == ConsentState(True, "agent", T0 + timedelta(days=2))
    assert current[ConsentPurpose.PRODUCT_UPDATES] is None  # never asked: not "refused"

    history = service.history(customer)
    assert [(h.purpose, h.granted) for h in history] == [
        ("analytics", True),
        ("marketing_email", False),
        ("marketing_email", True),
    ]


def test_each_change_leaves_an_event_and_an_audit_entry(
    engine: Engine, ana: Actor, customer: int
) -> None:
    ConsentService(engine).record(customer, MARKETING, False, "phone call", ana, at=T0)

    events = T["activity_event"]
    with engine.connect() as c:
        event = c.execute(sa.select(events)).one()
    assert (event.customer_id, event.kind, event.agent_id) == (customer, "profile", ana.agent_id)
    assert event.details == {"consent": "marketing_email", "granted": False, "source": "phone call"}
    entry = AuditLog(engine).entries(customer_id=customer)[0]
    assert (entry.action, entry.agent_username) == ("customer.profile", "ana")
    assert AuditLog(engine).verify().ok


@pytest.mark.parametrize(
    ("purpose", "granted", "source", "at", "field"),
    [
        ("newsletters", True, "form", T0, "purpose"),
        (MARKETING, "no", "form", T0, "granted"),
        (MARKETING, True, "line\x1b[2Jbreak", T0, "source"),
        (MARKETING, True, "form", datetime(2026, 1, 1, 9), "at"),  # naive
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    engine: Engine,
    ana: Actor,
    customer: int,
    purpose: str,
    granted: bool,
    source: str,
    at: datetime,
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        ConsentService(engine).record(customer, purpose, granted, source, ana, at=at)
    assert field in refused.value.errors
    assert _written(engine) == (0, 0, 0)


def test_unknown_customer_is_refused(engine: Engine, ana: Actor) -> None:
    with pytest.raises(CustomerNotFound):
        ConsentService(engine).record(404, MARKETING, True, "form", ana)
    with pytest.raises(CustomerNotFound):
        ConsentService(engine).current(404)
    assert _written(engine) == (0, 0, 0)


def test_erased_customer_is_refused(engine: Engine, ana: Actor) -> None:
    with engine.begin() as c:
        erased = add_customer(c, name="Erased", email="erased@invalid", erased_at=T0)
    with pytest.raises(CustomerErased) as refused:
        ConsentService(engine).record(erased, MARKETING, True, "form", Actor.customer())
    assert isinstance(refused.value, InvalidInput)
    assert "erased" in str(refused.value)
    assert _written(engine) == (0, 0, 0)


def test_a_read_only_agent_is_refused_and_a_customer_may_change_their_own(
    engine: Engine, customer: int
) -> None:
    with engine.begin() as c:
        reader = add_agent(c, "rita", readonly=True)
    with pytest.raises(NotAllowed):
        ConsentService(engine).record(
            customer, MARKETING, True, "form", Actor.agent("rita", agent_id=reader)
        )
    assert _written(engine) == (0, 0, 0)

    change = ConsentService(engine).record(
        customer, MARKETING, True, "preference centre", Actor.customer()
    )
    assert change.purpose == "marketing_email" and change.granted
    assert _written(engine) == (1, 1, 1)
