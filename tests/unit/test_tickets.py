"""TicketService on real databases (both engines).

A ticket is opened on a customer with a validated subject, listed newest first on
the profile, closed and reopened with a reason; each write leaves one support
activity event naming the agent, and a refused write leaves nothing behind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.models.enums import TicketStatus
from crm_tui.services.actor import Actor
from crm_tui.services.agents import register_agent
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.profile import CustomerNotFound
from crm_tui.services.tickets import SUBJECT_MAX, NotAllowed, TicketService
from tests.factories import T0, add_customer, add_ticket

NOW = datetime(2026, 3, 2, 14, 2, tzinfo=UTC)
OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
BIDI = "\u202egnp.exe"

_ticket = t.Ticket.__table__  # type: ignore[attr-defined]
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
def service(engine: Engine, clock: Clock) -> TicketService:
    return TicketService(engine, clock=clock)


@pytest.fixture
def maria(engine: Engine) -> Actor:
    return register_agent(engine, Actor.agent("maria.lopez", display_name="Maria Lopez"))


@pytest.fixture
def customer(engine: Engine) -> int:
    with engine.begin() as c:
        return add_customer(c, name="Ada Lovelace")


def _events(engine: Engine, customer_id: int) -> list[sa.Row[tuple[object, ...]]]:
    with engine.connect() as c:
        return list(
            c.execute(
                sa.select(_event).where(_event.c.customer_id == customer_id).order_by(_event.c.id)
            )
        )


def _tickets(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    with engine.connect() as c:
        return list(c.execute(sa.select(_ticket).order_by(_ticket.c.id)))


def test_create_opens_a_ticket_and_records_it(
    engine: Engine, service: TicketService, maria: Actor, customer: int
) -> None:
    view = service.create(customer, "  Cannot log in since the update  ", maria)
    assert view.subject == "Cannot log in since the update"
    assert (view.customer_id, view.status, view.opened_by) == (customer, "open", "Maria Lopez")
    assert view.opened_at == NOW and view.closed_at is None and view.is_open
    [row] = _tickets(engine)
    assert (row.id, row.agent_id, row.status) == (view.id, maria.agent_id, "open")
    [event] = _events(engine, customer)
    assert (event.kind, event.actor_type, event.agent_id) == ("support", "agent", maria.agent_id)
    assert event.summary == f"Opened ticket #{view.id}: Cannot log in since the update"
    assert event.details == {"ticket_id": view.id, "subject": "Cannot log in since the update"}
    assert view.as_json()["opened_by"] == "Maria Lopez"


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("", "is required"),
        ("   ", "is required"),
        ("x" * (SUBJECT_MAX + 1), f"at most {SUBJECT_MAX:,} are allowed"),
        (f"Refund {OSC52}", "ESC"),
        (BIDI, "invisible or control character"),
        ("two\nlines", "must be on one line"),
    ],
)
def test_a_bad_subject_is_refused_and_nothing_is_written(
    engine: Engine, service: TicketService, maria: Actor, customer: int, subject: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.create(customer, subject, maria)
    assert list(refused.value.errors) == ["subject"]
    assert message in refused.value.errors["subject"]
    assert _tickets(engine) == [] and _events(engine, customer) == []


def test_a_subject_of_the_maximum_length_is_kept_whole(
    service: TicketService, maria: Actor, customer: int
) -> None:
    subject = "[bold]" + "y" * (SUBJECT_MAX - 6)  # markup is text, kept as typed
    assert service.create(customer, subject, maria).subject == subject


def test_history_is_newest_first_and_follows_a_merged_id(
    engine: Engine, service: TicketService, maria: Actor, customer: int, clock: Clock
) -> None:
    with engine.begin() as c:
        other = add_customer(c, name="Grace Hopper", email="grace@example.com")
        add_ticket(c, other, subject="Not hers")
        c.execute(
            sa.insert(_merged).values(old_customer_id=9999, survivor_id=customer, merged_at=T0)
        )
    first = service.create(customer, "First", maria)
    clock.now = NOW + timedelta(hours=1)
    second = service.create(9999, "Second, through the merged id", maria)
    assert second.customer_id == customer
    assert [v.id for v in service.history(customer, maria)] == [second.id, first.id]
    assert service.history(9999, maria) == service.history(customer, maria)


def test_close_and_reopen_with_a_reason(
    engine: Engine, service: TicketService, maria: Actor, customer: int, clock: Clock
) -> None:
    ticket = service.create(customer, "Invoice is wrong", maria)
    clock.now = NOW + timedelta(days=1)
    closed = service.close(ticket.id, "Sent a corrected invoice", maria)
    assert (closed.status, closed.closed_at) == ("closed", NOW + timedelta(days=1))
    assert not closed.is_open

    with pytest.raises(InvalidInput, match="already closed"):
        service.close(ticket.id, "Closing it twice", maria)

    clock.now = NOW + timedelta(days=2)
    reopened = service.reopen(ticket.id, "Customer says it is still wrong", maria)
    assert (reopened.status, reopened.closed_at) == ("open", None)
    with pytest.raises(InvalidInput, match="only a closed or solved ticket"):
        service.reopen(ticket.id, "Reopening an open one", maria)

    summaries = [e.summary for e in _events(engine, customer)]
    assert summaries == [
        f"Opened ticket #{ticket.id}: Invoice is wrong",
        f"Closed ticket #{ticket.id}: Sent a corrected invoice",
        f"Reopened ticket #{ticket.id}: Customer says it is still wrong",
    ]
    close_event = _events(engine, customer)[1]
    assert close_event.details["reason"] == "Sent a corrected invoice"
    assert close_event.kind == "support" and close_event.agent_id == maria.agent_id


def test_a_solved_or_pending_ticket_can_be_closed(
    engine: Engine, service: TicketService, maria: Actor, customer: int
) -> None:
    with engine.begin() as c:
        solved = add_ticket(c, customer, status=TicketStatus.SOLVED.value)
        pending = add_ticket(c, customer, status=TicketStatus.PENDING.value)
    assert service.close(solved, "Confirmed by the customer", maria).status == "closed"
    assert service.close(pending, "No answer for two weeks", maria).status == "closed"


def test_closing_needs_a_reason_and_an_existing_ticket(
    engine: Engine, service: TicketService, maria: Actor, customer: int
) -> None:
    ticket = service.create(customer, "Card declined", maria)
    with pytest.raises(InvalidInput) as refused:
        service.close(ticket.id, "ok", maria)
    assert "at least 5 characters" in refused.value.errors["reason"]
    with pytest.raises(InvalidInput, match="there is no ticket #4242"):
        service.close(4242, "Nothing to close", maria)
    assert service.ticket(ticket.id, maria).status == "open"
    assert len(_events(engine, customer)) == 1


def test_unknown_customer(service: TicketService, maria: Actor) -> None:
    with pytest.raises(CustomerNotFound):
        service.create(777, "Hello", maria)
    with pytest.raises(CustomerNotFound):
        service.history(777, maria)


def test_read_only_inactive_and_customer_actors_are_refused(
    engine: Engine, service: TicketService, customer: int
) -> None:
    viewer = register_agent(engine, Actor.agent("viewer", display_name="Vic Viewer"))
    gone = register_agent(engine, Actor.agent("gone", display_name="Gone Agent"))
    with engine.begin() as c:
        c.execute(sa.update(_agent).where(_agent.c.id == viewer.agent_id).values(readonly=True))
        c.execute(sa.update(_agent).where(_agent.c.id == gone.agent_id).values(active=False))
        ticket = add_ticket(c, customer)
    with pytest.raises(NotAllowed, match="Vic Viewer has read-only access"):
        service.create(customer, "Hello", viewer)
    with pytest.raises(NotAllowed, match="read-only"):
        service.close(ticket, "Closing as read-only", viewer)
    with pytest.raises(NotAllowed, match="inactive"):
        service.create(customer, "Hello", gone)
    with pytest.raises(NotAllowed, match="only an agent"):
        service.create(customer, "Hello", Actor.customer())
    assert [r.status for r in _tickets(engine)] == ["open"]
    assert _events(engine, customer) == []


def test_the_system_can_open_tickets(service: TicketService, customer: int) -> None:
    view = service.create(customer, "Opened by a script", Actor.system())
    assert view.opened_by == "system"
