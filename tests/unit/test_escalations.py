"""EscalationService on real databases (both engines).

An agent escalates a customer for manager review with a reason; a second
escalation while one is open is refused, naming who raised it and when; a
manager resolves it with a resolution; the escalated queue lists the open ones,
the longest waiting first, with the customer's name, the reason, who raised it
and its age. Each write leaves one support activity event.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.models.enums import AgentRole
from crm_tui.services.actor import Actor
from crm_tui.services.agents import register_agent
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.directory import DirectoryFilters, DirectoryQuery, DirectoryService
from crm_tui.services.escalations import AlreadyEscalated, EscalationService
from crm_tui.services.tickets import NotAllowed
from tests.factories import T0, add_customer

NOW = datetime(2026, 3, 2, 14, 2, tzinfo=UTC)

_escalation = t.Escalation.__table__  # type: ignore[attr-defined]
_event = t.ActivityEvent.__table__  # type: ignore[attr-defined]
_agent = t.Agent.__table__  # type: ignore[attr-defined]
_merged = t.MergedCustomer.__table__  # type: ignore[attr-defined]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: Engine, clock: Clock) -> EscalationService:
    return EscalationService(engine, clock=clock)


@pytest.fixture
def maria(engine: Engine) -> Actor:
    return register_agent(engine, Actor.agent("maria.lopez", display_name="Maria Lopez"))


@pytest.fixture
def sam(engine: Engine) -> Actor:
    return register_agent(engine, Actor.agent("sam.okoro", display_name="Sam Okoro"))


@pytest.fixture
def lee(engine: Engine) -> Actor:
    """A manager."""
    manager = Actor.agent("lee.chen", role=AgentRole.MANAGER, display_name="Lee Chen")
    return register_agent(engine, manager)


@pytest.fixture
def customer(engine: Engine) -> int:
    with engine.begin() as c:
        return add_customer(c, name="Ada Lovelace", company_name="Analytical Engines")


def _rows(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    with engine.connect() as c:
        return list(c.execute(sa.select(_escalation).order_by(_escalation.c.id)))


def _events(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    with engine.connect() as c:
        return list(c.execute(sa.select(_event).order_by(_event.c.id)))


def test_escalate_flags_the_customer_for_review(
    engine: Engine, service: EscalationService, maria: Actor, customer: int
) -> None:
    view = service.escalate(customer, "  Threatens a chargeback over the March invoice ", maria)
    assert view.reason == "Threatens a chargeback over the March invoice"
    assert (view.customer_id, view.customer_name, view.company_name) == (
        customer,
        "Ada Lovelace",
        "Analytical Engines",
    )
    assert (view.status, view.raised_by, view.raised_at) == ("open", "Maria Lopez", NOW)
    assert view.is_open and view.age == timedelta(0)
    [row] = _rows(engine)
    assert (row.raised_by_agent_id, row.status) == (maria.agent_id, "open")
    [event] = _events(engine)
    assert (event.customer_id, event.kind, event.actor_type) == (customer, "support", "agent")
    assert event.agent_id == maria.agent_id
    assert (
        event.summary
        == "Escalated for manager review: Threatens a chargeback over the March invoice"
    )
    assert event.details == {"escalation_id": view.id, "reason": view.reason}


def test_a_second_escalation_is_refused_naming_who_raised_the_open_one(
    engine: Engine,
    service: EscalationService,
    maria: Actor,
    sam: Actor,
    customer: int,
    clock: Clock,
) -> None:
    first = service.escalate(customer, "Asked for a manager twice", maria)
    clock.now = NOW + timedelta(hours=3)
    with pytest.raises(AlreadyEscalated) as refused:
        service.escalate(customer, "Very angry on the phone", sam)
    message = refused.value.errors["escalation"]
    assert "already escalated by Maria Lopez on 2026-03-02 14:02 UTC" in message
    assert "Asked for a manager twice" in message
    assert refused.value.existing.id == first.id
    assert isinstance(refused.value, InvalidInput)
    assert len(_rows(engine)) == 1 and len(_events(engine)) == 1


def test_a_merged_away_id_escalates_the_survivor(
    engine: Engine, service: EscalationService, maria: Actor, customer: int
) -> None:
    with engine.begin() as c:
        c.execute(
            sa.insert(_merged).values(old_customer_id=9999, survivor_id=customer, merged_at=T0)
        )
    assert service.escalate(9999, "Escalated through the old id", maria).customer_id == customer
    assert service.open_for(9999, maria) == service.open_for(customer, maria)


@pytest.mark.parametrize(("reason", "message"), [("", "is required"), ("bad", "at least 5")])
def test_a_reason_is_required(
    engine: Engine,
    service: EscalationService,
    maria: Actor,
    customer: int,
    reason: str,
    message: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.escalate(customer, reason, maria)
    assert message in refused.value.errors["reason"]
    assert _rows(engine) == [] and _events(engine) == []


def test_a_manager_resolves_it_and_the_customer_can_be_escalated_again(
    engine: Engine,
    service: EscalationService,
    maria: Actor,
    lee: Actor,
    customer: int,
    clock: Clock,
) -> None:
    raised = service.escalate(customer, "Wants a refund outside policy", maria)
    clock.now = NOW + timedelta(hours=5)
    resolved = service.resolve(raised.id, "Approved a goodwill credit of $20", lee)
    assert (resolved.status, resolved.resolved_by, resolved.resolution) == (
        "resolved",
        "Lee Chen",
        "Approved a goodwill credit of $20",
    )
    assert resolved.resolved_at == NOW + timedelta(hours=5) and not resolved.is_open
    assert resolved.age == timedelta(hours=5)  # how long it was open
    assert service.open_for(customer, maria) is None

    with pytest.raises(InvalidInput, match="already resolved by Lee Chen on 2026-03-02 19:02"):
        service.resolve(raised.id, "Resolving it twice", lee)

    again = service.escalate(customer, "Second complaint this month", maria)
    assert [v.id for v in service.for_customer(customer, lee)] == [again.id, raised.id]
    event = _events(engine)[1]
    assert (event.summary, event.agent_id, event.kind) == (
        "Escalation resolved: Approved a goodwill credit of $20",
        lee.agent_id,
        "support",
    )
    assert event.details["reason"] == "Wants a refund outside policy"


def test_resolving_is_a_managers_review(
    engine: Engine, service: EscalationService, maria: Actor, sam: Actor, customer: int
) -> None:
    raised = service.escalate(customer, "Wants to speak to a manager", maria)
    with pytest.raises(NotAllowed, match="manager"):
        service.resolve(raised.id, "I sorted it myself", sam)
    with pytest.raises(InvalidInput) as refused:
        service.resolve(raised.id, "", Actor.system())
    assert "is required" in refused.value.errors["resolution"]
    assert service.resolve(raised.id, "Closed by the nightly script", Actor.system()).status == (
        "resolved"
    )
    with pytest.raises(InvalidInput, match="there is no escalation #4242"):
        service.resolve(4242, "Nothing to resolve", Actor.system())


def test_read_only_agents_and_customers_are_refused(
    engine: Engine, service: EscalationService, lee: Actor, customer: int
) -> None:
    with engine.begin() as c:
        c.execute(sa.update(_agent).where(_agent.c.id == lee.agent_id).values(readonly=True))
    with pytest.raises(NotAllowed, match="Lee Chen has read-only access"):
        service.escalate(customer, "Looks like fraud", lee)
    with pytest.raises(NotAllowed, match="only an agent"):
        service.escalate(customer, "Please call me back", Actor.customer())
    assert _rows(engine) == [] and _events(engine) == []


def test_the_escalated_queue_lists_open_ones_longest_waiting_first(
    engine: Engine,
    service: EscalationService,
    maria: Actor,
    sam: Actor,
    lee: Actor,
    customer: int,
    clock: Clock,
) -> None:
    with engine.begin() as c:
        grace = add_customer(c, name="Grace Hopper", email="grace@example.com")
        alan = add_customer(c, name="Alan Turing", email="alan@example.com")
    clock.now = NOW - timedelta(days=2)
    oldest = service.escalate(grace, "Disputes every invoice", sam)
    clock.now = NOW - timedelta(hours=6)
    newer = service.escalate(customer, "Legal threat", maria)
    done = service.escalate(alan, "Resolved already", maria)
    service.resolve(done.id, "Refund approved", lee)
    clock.now = NOW

    queue = service.open_escalations(lee)
    assert [(v.id, v.customer_name, v.reason, v.raised_by, v.age) for v in queue] == [
        (oldest.id, "Grace Hopper", "Disputes every invoice", "Sam Okoro", timedelta(days=2)),
        (newer.id, "Ada Lovelace", "Legal threat", "Maria Lopez", timedelta(hours=6)),
    ]
    assert queue[0].as_json()["age_seconds"] == 2 * 86400
    assert [v.id for v in service.open_escalations(lee, limit=1)] == [oldest.id]

    # The directory's "escalated" set (the built-in queue) agrees.
    directory = DirectoryService(engine)
    query = DirectoryQuery(filters=DirectoryFilters(sets=("escalated",)))
    assert sorted(row.id for row in directory.window(query, lee)) == sorted([grace, customer])


def test_two_agents_escalating_at_once_leave_one_escalation(
    engine: Engine, service: EscalationService, maria: Actor, sam: Actor, customer: int
) -> None:
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def escalate(actor: Actor) -> None:
        start.wait()
        try:
            service.escalate(customer, f"Escalated by {actor.label}", actor)
            outcomes.append("raised")
        except AlreadyEscalated:
            outcomes.append("refused")

    threads = [threading.Thread(target=escalate, args=(a,)) for a in (maria, sam)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["raised", "refused"]
    assert len(_rows(engine)) == 1 and len(_events(engine)) == 1
