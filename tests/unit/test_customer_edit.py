"""CustomerEditService and register_agent on real databases (both engines).

For every edit: a success changes the row, bumps the version where the customer
record is concerned, and leaves exactly one activity event naming the actor; an
invalid input is refused per field with the database left exactly as it was; and
of two agents saving on the same version, the second is refused with a StaleEdit
naming the first, whose change stays stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.models.enums import AgentRole
from crm_tui.services.actor import Actor
from crm_tui.services.agents import register_agent
from crm_tui.services.customer_edit import (
    AddressInput,
    CustomerDetails,
    CustomerEditService,
    InvalidInput,
    NoteInput,
    StaleEdit,
    parse_day,
)
from crm_tui.services.profile import ProfileService
from tests.factories import T0, add_customer

NOW = datetime(2026, 3, 2, 14, 2, tzinfo=UTC)
OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # a terminal escape that writes the clipboard
BIDI = "\u202egnp.exe"  # a right-to-left override: shows as "exe.png"
ZERO_WIDTH = "vi\u200bp"

_customer = t.Customer.__table__  # type: ignore[attr-defined]
_address = t.Address.__table__  # type: ignore[attr-defined]
_event = t.ActivityEvent.__table__  # type: ignore[attr-defined]
_note = t.Note.__table__  # type: ignore[attr-defined]
_tag = t.Tag.__table__  # type: ignore[attr-defined]
_customer_tag = t.CustomerTag.__table__  # type: ignore[attr-defined]
_state_change = t.AccountStateChange.__table__  # type: ignore[attr-defined]
_agent = t.Agent.__table__  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- fixtures


@pytest.fixture
def service(engine: Engine) -> CustomerEditService:
    return CustomerEditService(engine, clock=lambda: NOW)


@pytest.fixture
def maria(engine: Engine) -> Actor:
    return register_agent(engine, Actor.agent("maria.lopez", display_name="Maria Lopez"))


@pytest.fixture
def sam(engine: Engine) -> Actor:
    return register_agent(engine, Actor.agent("sam.okoro", display_name="Sam Okoro"))


@pytest.fixture
def customer(engine: Engine) -> int:
    """Ada Lovelace, an individual in GB, at version 1, with no history."""
    with engine.begin() as c:
        return add_customer(c, name="Ada Lovelace", email="ada@example.com", country="GB")


def _ada(**changes: Any) -> CustomerDetails:
    """The details form as the customer fixture fills it, with `changes`."""
    values: dict[str, Any] = {"name": "Ada Lovelace", "email": "ada@example.com", "country": "GB"}
    return CustomerDetails(**(values | changes))


def _home(**changes: Any) -> AddressInput:
    values: dict[str, Any] = {
        "line1": "12 St James's Square",
        "city": "London",
        "postal_code": "sw1y 4lb",
        "country": "GB",
    }
    return AddressInput(**(values | changes))


# ----------------------------------------------------------------------- helpers


def _snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order: what "unchanged" is compared on."""
    with engine.connect() as c:
        return {
            table.name: [
                tuple(row) for row in c.execute(sa.select(table).order_by(*table.primary_key))
            ]
            for table in t.SQLModel.metadata.sorted_tables
        }


def _refused(engine: Engine, edit: Callable[[], object], field: str) -> InvalidInput:
    """`edit` raises InvalidInput naming `field`, and writes nothing at all."""
    before = _snapshot(engine)
    with pytest.raises(InvalidInput) as raised:
        edit()
    assert field in raised.value.errors, raised.value.errors
    assert raised.value.errors[field]  # a message for the agent, beside the field
    assert _snapshot(engine) == before
    return raised.value


def _row(engine: Engine, table: sa.Table, **where: Any) -> Any:
    rows = _rows(engine, table, **where)
    assert len(rows) == 1, rows
    return rows[0]


def _rows(engine: Engine, table: sa.Table, **where: Any) -> list[Any]:
    query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
    with engine.connect() as c:
        return list(c.execute(query.order_by(*table.primary_key)))


def _only_event(engine: Engine, customer_id: int, actor: Actor) -> Any:
    """The one activity event of the customer, written by `actor`."""
    event = _row(engine, _event, customer_id=customer_id)
    assert (event.actor_type, event.agent_id) == ("agent", actor.agent_id)
    assert event.occurred_at.replace(tzinfo=UTC) == NOW
    return event


def _assert_stale(raised: pytest.ExceptionInfo[StaleEdit], by: Actor) -> None:
    message = str(raised.value)
    assert by.display_name in message and "reload" in message, message
    assert message == f"changed by {by.display_name} at 2026-03-02 14:02 UTC — reload"
    assert raised.value.by == by.display_name


# ============================================================== update_details


def test_update_details_saves_bumps_the_version_and_logs_one_event(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    version = service.update_details(
        customer, 1, _ada(name="Ada King", phone="020 7946 0958"), maria
    )
    assert version == 2
    row = _row(engine, _customer, id=customer)
    assert (row.name, row.phone, row.email) == ("Ada King", "+442079460958", "ada@example.com")
    assert (row.version, row.updated_by_agent_id) == (2, maria.agent_id)
    assert row.updated_at.replace(tzinfo=UTC) == NOW
    event = _only_event(engine, customer, maria)
    assert event.kind == "profile"
    assert event.summary == "Changed name, phone"
    assert event.details == {"name": "Ada Lovelace → Ada King", "phone": "— → +442079460958"}


def test_update_details_switches_an_individual_to_a_business(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    business = _ada(
        kind="business",
        country="DE",
        company_name="Analytical Engines GmbH",
        company_reg_no="HRB 1843",
        company_email="billing@engines.example",
        vat_id="de 123.456.789",
        payment_terms="net30",
        billing_group="Enterprise",
        billing_contact="Charles Babbage",
    )
    assert service.update_details(customer, 1, business, maria) == 2
    row = _row(engine, _customer, id=customer)
    assert row.kind == "business"
    assert (row.company_name, row.vat_id, row.payment_terms) == (
        "Analytical Engines GmbH",
        "DE123456789",
        "net30",
    )
    assert (row.billing_group, row.billing_contact, row.country) == (
        "Enterprise",
        "Charles Babbage",
        "DE",
    )
    event = _only_event(engine, customer, maria)
    assert event.summary.startswith("Changed type, country, company")
    assert event.details["type"] == "individual → business"
    assert event.details["VAT id"] == "— → DE123456789"


def test_update_details_switching_to_an_individual_clears_the_company(
    engine: Engine, service: CustomerEditService, maria: Actor
) -> None:
    with engine.begin() as c:
        customer = add_customer(
            c, kind="business", company_name="Cobol Ltd", vat_id="GB999999973",
            payment_terms="net30", billing_group="SMB", country="GB",
        )  # fmt: skip
    service.update_details(customer, 1, _ada(company_name="Cobol Ltd"), maria)
    row = _row(engine, _customer, id=customer)
    assert (row.kind, row.company_name, row.vat_id, row.payment_terms, row.billing_group) == (
        "individual",
        "",
        "",
        None,
        "",
    )


def test_update_details_without_a_change_writes_nothing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    before = _snapshot(engine)
    assert service.update_details(customer, 1, _ada(email="  ada@EXAMPLE.com "), maria) == 1
    assert _snapshot(engine) == before


def test_update_details_refuses_invalid_input_writing_nothing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    cases: list[tuple[CustomerDetails, str]] = [
        (_ada(email="ada@"), "email"),
        (_ada(email="ada at example.com"), "email"),
        (_ada(email="ada@localhost"), "email"),
        (_ada(phone="call me maybe"), "phone"),
        (_ada(phone="12"), "phone"),
        (_ada(name=""), "name"),
        (_ada(name="   "), "name"),
        (_ada(name="x" * 201), "name"),
        (_ada(name=f"Ada{OSC52}"), "name"),
        (_ada(name=f"Ada {BIDI}"), "name"),
        (_ada(name="Ada\nLovelace"), "name"),
        (_ada(kind="robot"), "kind"),
        (_ada(country="Atlantis"), "country"),
        (_ada(kind="business"), "company_name"),
        (_ada(kind="business", company_name="Co", vat_id="XX123456"), "vat_id"),
        (_ada(kind="business", company_name="Co", vat_id="GR123456789"), "vat_id"),
        (_ada(kind="business", company_name="Co", company_email="billing@"), "company_email"),
        (_ada(kind="business", company_name="Co", payment_terms="net_45"), "payment_terms"),
        (_ada(kind="business", company_name="Co", billing_contact=f"AP {OSC52}"),
         "billing_contact"),
    ]  # fmt: skip
    for details, field in cases:
        _refused(engine, lambda d=details: service.update_details(customer, 1, d, maria), field)
    # Every field is checked, so the form can show all its problems at once.
    refusal = _refused(
        engine,
        lambda: service.update_details(customer, 1, _ada(email="@", phone="x"), maria),
        "email",
    )
    assert set(refusal.errors) == {"email", "phone"}


def test_update_details_on_a_stale_version_is_refused_and_keeps_the_first_save(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    seen = 1  # both agents opened the profile at version 1
    service.update_details(customer, seen, _ada(name="Ada King"), maria)
    with pytest.raises(StaleEdit) as raised:
        service.update_details(customer, seen, _ada(email="ada@king.example"), sam)
    _assert_stale(raised, maria)
    row = _row(engine, _customer, id=customer)
    assert (row.name, row.email, row.version) == ("Ada King", "ada@example.com", 2)
    _only_event(engine, customer, maria)
    # Saving the form unchanged on the old version is refused too: the view is stale.
    with pytest.raises(StaleEdit):
        service.update_details(customer, seen, _ada(), sam)


# ======================================================== change_account_state


def test_change_account_state_records_who_and_why(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    reason = "Chargeback fraud suspected"
    assert service.change_account_state(customer, 1, "blocked", reason, maria) == 2
    row = _row(engine, _customer, id=customer)
    assert (row.account_state, row.version, row.updated_by_agent_id) == (
        "blocked",
        2,
        maria.agent_id,
    )
    change = _row(engine, _state_change, customer_id=customer)
    assert (change.from_state, change.to_state, change.reason, change.agent_id) == (
        "active",
        "blocked",
        reason,
        maria.agent_id,
    )
    event = _only_event(engine, customer, maria)
    assert event.summary == f"Account blocked: {reason}"
    assert event.details == {"from": "active", "to": "blocked", "reason": reason}
    history = ProfileService(engine).profile(customer, maria).status_history
    assert [(h.to_state, h.reason, h.by) for h in history] == [("blocked", reason, "Maria Lopez")]


def test_reactivation_is_said_as_such(
    engine: Engine, service: CustomerEditService, maria: Actor
) -> None:
    with engine.begin() as c:
        customer = add_customer(c, account_state="deactivated")
    service.change_account_state(customer, 1, "active", "  Identity verified  ", maria)
    assert _only_event(engine, customer, maria).summary == "Account reactivated: Identity verified"


def test_change_account_state_refuses_invalid_input_writing_nothing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    cases = [
        ("blocked", "", "reason"),
        ("blocked", "    ", "reason"),
        ("blocked", "bad", "reason"),  # too short to tell an auditor anything
        ("blocked", f"Fraud {OSC52}", "reason"),
        ("blocked", f"Fraud {BIDI}", "reason"),
        ("active", "Already active, though", "state"),
        ("frozen", "Not a state we have", "state"),
    ]
    for state, reason, field in cases:
        _refused(
            engine,
            lambda s=state, r=reason: service.change_account_state(customer, 1, s, r, maria),
            field,
        )


def test_change_account_state_on_a_stale_version_is_refused(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    service.change_account_state(customer, 1, "blocked", "Chargeback fraud", maria)
    with pytest.raises(StaleEdit) as raised:
        service.change_account_state(customer, 1, "deactivated", "Asked to close", sam)
    _assert_stale(raised, maria)
    assert _row(engine, _customer, id=customer).account_state == "blocked"
    assert _row(engine, _state_change, customer_id=customer).agent_id == maria.agent_id
    _only_event(engine, customer, maria)


def test_the_same_state_change_on_a_stale_version_is_stale_not_a_no_op(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    """Both agents block: the second learns who did it first (and reloads)."""
    service.change_account_state(customer, 1, "blocked", "Chargeback fraud", maria)
    with pytest.raises(StaleEdit) as raised:
        service.change_account_state(customer, 1, "blocked", "Abusive on the phone", sam)
    _assert_stale(raised, maria)
    _row(engine, _state_change, customer_id=customer)


# ================================================================= add_address


def test_the_first_billing_address_becomes_the_default(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    assert service.add_address(customer, 1, _home(), maria) == 2
    address = _row(engine, _address, customer_id=customer)
    assert (address.kind, address.is_default, address.valid_to) == ("billing", True, None)
    assert (address.line1, address.postal_code, address.country) == (
        "12 St James's Square",
        "SW1Y 4LB",
        "GB",
    )
    assert _row(engine, _customer, id=customer).version == 2
    event = _only_event(engine, customer, maria)
    assert event.summary == "Added a billing address (default)"
    assert event.details == {"address": "12 St James's Square, London, SW1Y 4LB, GB"}


def test_add_address_moves_the_default_only_when_asked(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    service.add_address(customer, 1, _home(), maria)
    service.add_address(customer, 2, _home(line1="1 Other St"), maria)
    service.add_address(customer, 3, _home(line1="2 Ship St", kind="shipping", make_default=True),
                        maria)  # fmt: skip
    defaults = [a.line1 for a in _rows(engine, _address, customer_id=customer) if a.is_default]
    assert defaults == ["12 St James's Square"]
    service.add_address(customer, 4, _home(line1="3 New St", make_default=True), maria)
    defaults = [a.line1 for a in _rows(engine, _address, customer_id=customer) if a.is_default]
    assert defaults == ["3 New St"]
    assert _row(engine, _customer, id=customer).version == 5


def test_add_address_refuses_invalid_input_writing_nothing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    cases = [
        (_home(line1=""), "line1"),
        (_home(city=""), "city"),
        (_home(country=""), "country"),
        (_home(country="Narnia"), "country"),
        (_home(postal_code="SW1#"), "postal_code"),
        (_home(line2=f"Flat {BIDI}"), "line2"),
        (_home(line1=f"1 Main St{OSC52}"), "line1"),
        (_home(state="x" * 201), "state"),
        (_home(kind="office"), "kind"),
    ]
    for address, field in cases:
        _refused(engine, lambda a=address: service.add_address(customer, 1, a, maria), field)


def test_add_address_on_a_stale_version_is_refused(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    service.add_address(customer, 1, _home(), maria)
    with pytest.raises(StaleEdit) as raised:
        service.add_address(customer, 1, _home(line1="9 Elsewhere Rd"), sam)
    _assert_stale(raised, maria)
    assert [a.line1 for a in _rows(engine, _address, customer_id=customer)] == [
        "12 St James's Square"
    ]
    _only_event(engine, customer, maria)


# ============================================================= replace_address


def _insert_address(engine: Engine, customer_id: int, **values: Any) -> int:
    row = {
        "customer_id": customer_id, "kind": "billing", "is_default": True,
        "line1": "1 Old Road", "line2": "", "city": "Leeds", "state": "",
        "postal_code": "LS1 1AA", "country": "GB", "valid_from": T0, "valid_to": None,
    }  # fmt: skip
    with engine.begin() as c:
        return int(c.execute(sa.insert(_address).values(**(row | values))).inserted_primary_key[0])


def test_replace_address_keeps_the_old_one_as_history(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    old = _insert_address(engine, customer)
    assert service.replace_address(customer, 1, old, _home(), maria) == 2
    before, after = _rows(engine, _address, customer_id=customer)
    assert before.id == old
    assert (before.line1, before.is_default) == ("1 Old Road", False)
    assert before.valid_to.replace(tzinfo=UTC) == NOW
    assert (after.line1, after.is_default, after.valid_to) == ("12 St James's Square", True, None)
    event = _only_event(engine, customer, maria)
    assert event.summary == "Changed a billing address"
    assert event.details == {
        "before": "1 Old Road, Leeds, LS1 1AA, GB",
        "after": "12 St James's Square, London, SW1Y 4LB, GB",
    }
    shown = ProfileService(engine).profile(customer, maria).addresses
    assert [(a.line1, a.current) for a in shown] == [
        ("12 St James's Square", True),
        ("1 Old Road", False),
    ]


def test_replace_address_refuses_invalid_input_and_old_addresses(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    current = _insert_address(engine, customer)
    history = _insert_address(engine, customer, is_default=False, valid_to=T0)
    with engine.begin() as c:
        other = add_customer(c, email="other@example.com")
    theirs = _insert_address(engine, other)
    cases = [
        (current, _home(city=""), "city"),
        (current, _home(line1=OSC52), "line1"),
        (history, _home(), "address"),  # already replaced: edits are made on the current one
        (theirs, _home(), "address"),  # another customer's
        (424242, _home(), "address"),
    ]
    for address_id, address, field in cases:
        _refused(
            engine,
            lambda i=address_id, a=address: service.replace_address(customer, 1, i, a, maria),
            field,
        )


def test_replace_address_on_a_stale_version_is_refused(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    old = _insert_address(engine, customer)
    service.replace_address(customer, 1, old, _home(), maria)
    with pytest.raises(StaleEdit) as raised:
        service.replace_address(customer, 1, old, _home(line1="9 Elsewhere Rd"), sam)
    _assert_stale(raised, maria)
    current = [a.line1 for a in _rows(engine, _address, customer_id=customer) if not a.valid_to]
    assert current == ["12 St James's Square"]
    _only_event(engine, customer, maria)


# ========================================================= set_default_address


def test_set_default_address_moves_the_default(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    first = _insert_address(engine, customer)
    second = _insert_address(engine, customer, is_default=False, line1="2 New Road")
    assert service.set_default_address(customer, 1, second, maria) == 2
    defaults = {a.id: a.is_default for a in _rows(engine, _address, customer_id=customer)}
    assert defaults == {first: False, second: True}
    assert _row(engine, _customer, id=customer).version == 2
    event = _only_event(engine, customer, maria)
    assert event.summary == "Chose the default billing address"
    assert event.details == {"address": "2 New Road, Leeds, LS1 1AA, GB"}


def test_set_default_address_refuses_shipping_and_old_addresses(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    _insert_address(engine, customer)
    shipping = _insert_address(engine, customer, kind="shipping", is_default=False)
    history = _insert_address(engine, customer, is_default=False, valid_to=T0)
    for address_id in (shipping, history, 424242):
        _refused(
            engine,
            lambda i=address_id: service.set_default_address(customer, 1, i, maria),
            "address",
        )


def test_set_default_address_on_a_stale_version_is_refused(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    first = _insert_address(engine, customer)
    second = _insert_address(engine, customer, is_default=False, line1="2 New Road")
    service.set_default_address(customer, 1, second, maria)
    with pytest.raises(StaleEdit) as raised:
        service.set_default_address(customer, 1, first, sam)
    _assert_stale(raised, maria)
    defaults = [a.id for a in _rows(engine, _address, customer_id=customer) if a.is_default]
    assert defaults == [second]
    _only_event(engine, customer, maria)


def test_set_default_address_replaced_meanwhile_is_stale_not_missing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    """Sam picks an address Maria has just replaced: he learns who changed it."""
    first = _insert_address(engine, customer, is_default=False)
    service.replace_address(customer, 1, first, _home(), maria)
    with pytest.raises(StaleEdit) as raised:
        service.set_default_address(customer, 1, first, sam)
    _assert_stale(raised, maria)
    _only_event(engine, customer, maria)


# ==================================================================== add_note


def test_add_note_stores_it_with_its_author_and_leaves_the_version(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    follow_up = NOW.date() + timedelta(days=7)
    note = NoteInput("phone", "  Called about the invoice ", "Line one\r\nLine two", follow_up)
    note_id = service.add_note(customer, note, maria)
    row = _row(engine, _note, customer_id=customer)
    assert row.id == note_id
    assert (row.type, row.summary, row.body) == (
        "phone",
        "Called about the invoice",
        "Line one\nLine two",
    )
    assert (row.follow_up_on, row.agent_id) == (follow_up, maria.agent_id)
    assert _row(engine, _customer, id=customer).version == 1  # a note is not a record edit
    event = _only_event(engine, customer, maria)
    assert event.kind == "support"
    assert event.summary == "Added a phone note: Called about the invoice"
    assert event.details == {
        "note_id": note_id,
        "type": "phone",
        "follow_up_on": follow_up.isoformat(),
    }


def test_add_note_accepts_a_follow_up_today(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    service.add_note(customer, NoteInput("other", "Check back", "", NOW.date()), maria)
    assert _row(engine, _note, customer_id=customer).follow_up_on == NOW.date()


def test_add_note_refuses_invalid_input_writing_nothing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    yesterday = NOW.date() - timedelta(days=1)
    cases = [
        (NoteInput("phone", ""), "summary"),
        (NoteInput("phone", "   "), "summary"),
        (NoteInput("phone", "Two\nlines"), "summary"),
        (NoteInput("phone", f"Hi {BIDI}"), "summary"),
        (NoteInput("phone", "Call", f"body {OSC52}"), "body"),
        (NoteInput("phone", "Call", "x" * 10_001), "body"),
        (NoteInput("phone", "Call", "", yesterday), "follow_up_on"),
        (NoteInput("sms", "Call"), "type"),
    ]
    for note, field in cases:
        _refused(engine, lambda n=note: service.add_note(customer, n, maria), field)


def test_two_agents_adding_notes_at_once_both_land(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    # Both opened version 1; Maria also saves the details meanwhile.
    service.update_details(customer, 1, _ada(name="Ada King"), maria)
    service.add_note(customer, NoteInput("phone", "Maria's call"), maria)
    service.add_note(customer, NoteInput("email", "Sam's email"), sam)
    notes = _rows(engine, _note, customer_id=customer)
    assert [(n.summary, n.agent_id) for n in notes] == [
        ("Maria's call", maria.agent_id),
        ("Sam's email", sam.agent_id),
    ]
    events = _rows(engine, _event, customer_id=customer)
    assert [e.agent_id for e in events] == [maria.agent_id, maria.agent_id, sam.agent_id]


# ============================================================== add/remove tag


def _tags(engine: Engine, customer_id: int) -> list[str]:
    query = (
        sa.select(_tag.c.name)
        .join(_customer_tag, _customer_tag.c.tag_id == _tag.c.id)
        .where(_customer_tag.c.customer_id == customer_id)
        .order_by(_tag.c.name)
    )
    with engine.connect() as c:
        return list(c.execute(query).scalars())


def test_add_tag_normalises_it_and_logs_one_event(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    assert service.add_tag(customer, "  Needs   Follow-Up ", maria) is True
    assert _tags(engine, customer) == ["needs follow-up"]
    link = _row(engine, _customer_tag, customer_id=customer)
    assert link.added_by_agent_id == maria.agent_id
    assert _row(engine, _customer, id=customer).version == 1
    event = _only_event(engine, customer, maria)
    assert (event.summary, event.details) == (
        "Tagged needs follow-up",
        {"tag": "needs follow-up"},
    )


def test_add_tag_reuses_an_existing_tag(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    with engine.begin() as c:
        other = add_customer(c, email="other@example.com")
    service.add_tag(other, "vip", maria)
    service.add_tag(customer, "VIP", maria)
    assert len(_rows(engine, _tag)) == 1
    assert _tags(engine, customer) == _tags(engine, other) == ["vip"]


def test_adding_a_tag_the_customer_has_writes_nothing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    service.add_tag(customer, "vip", maria)
    before = _snapshot(engine)
    assert service.add_tag(customer, "Vip", maria) is False
    assert _snapshot(engine) == before


def test_remove_tag_removes_it_and_logs_one_event(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    service.add_tag(customer, "vip", maria)
    service.add_tag(customer, "press", maria)
    assert service.remove_tag(customer, " VIP ", sam) is True
    assert _tags(engine, customer) == ["press"]
    removal = _rows(engine, _event, customer_id=customer)[-1]
    assert (removal.agent_id, removal.summary) == (sam.agent_id, "Removed the tag vip")
    assert len(_rows(engine, _event, customer_id=customer)) == 3


def test_removing_a_tag_the_customer_lacks_writes_nothing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    with engine.begin() as c:
        other = add_customer(c, email="other@example.com")
    service.add_tag(other, "vip", maria)  # the tag exists, just not on this customer
    before = _snapshot(engine)
    assert service.remove_tag(customer, "vip", maria) is False
    assert service.remove_tag(customer, "never-used", maria) is False
    assert _snapshot(engine) == before


def test_tags_refuse_invalid_input_writing_nothing(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor
) -> None:
    service.add_tag(customer, "vip", maria)
    for tag in ("", "   ", "x" * 41, f"vip{OSC52}", "vip\x1b[31m", BIDI, ZERO_WIDTH, "a\nb"):
        _refused(engine, lambda g=tag: service.add_tag(customer, g, maria), "tag")
        _refused(engine, lambda g=tag: service.remove_tag(customer, g, maria), "tag")
    assert service.add_tag(customer, "x" * 40, maria) is True  # the longest allowed


def test_two_agents_tagging_at_once_both_land(
    engine: Engine, service: CustomerEditService, customer: int, maria: Actor, sam: Actor
) -> None:
    service.change_account_state(customer, 1, "blocked", "Chargeback fraud", maria)
    assert service.add_tag(customer, "at-risk", maria) is True
    assert service.add_tag(customer, "press", sam) is True
    assert _tags(engine, customer) == ["at-risk", "press"]


# ============================================================ find_duplicates


@pytest.fixture
def people(engine: Engine) -> dict[str, int]:
    with engine.begin() as c:
        return {
            "ada": add_customer(c, name="Ada Lovelace", email="ada@example.com"),
            "grace": add_customer(
                c,
                kind="business",
                name="Grace Hopper",
                email="grace@navy.example",
                company_name="Cobol Ltd",
            ),
            "alan": add_customer(c, name="Alan Turing", email="alan@bletchley.example"),
        }


def _found(service: CustomerEditService, actor: Actor, **details: Any) -> list[tuple[int, str]]:
    return [(d.id, d.why) for d in service.find_duplicates(CustomerDetails(**details), actor)]


def test_find_duplicates_by_email_ignoring_case(
    service: CustomerEditService, people: dict[str, int], maria: Actor
) -> None:
    assert _found(service, maria, name="Someone Else", email="ADA@Example.COM") == [
        (people["ada"], "same email")
    ]


def test_find_duplicates_by_similar_name(
    service: CustomerEditService, people: dict[str, int], maria: Actor
) -> None:
    assert _found(service, maria, name="ada lovelace", email="new@example.com") == [
        (people["ada"], "similar name")
    ]
    assert _found(service, maria, name="TURING") == [(people["alan"], "similar name")]


def test_find_duplicates_by_similar_company(
    service: CustomerEditService, people: dict[str, int], maria: Actor
) -> None:
    assert _found(service, maria, name="Nobody Known", company_name="cobol") == [
        (people["grace"], "similar company")
    ]


def test_find_duplicates_lists_each_customer_once_with_the_best_reason(
    service: CustomerEditService, people: dict[str, int], maria: Actor
) -> None:
    assert _found(service, maria, name="Ada Lovelace", email="ada@example.com") == [
        (people["ada"], "same email")
    ]


def test_find_duplicates_finds_none_for_a_stranger(
    service: CustomerEditService, people: dict[str, int], maria: Actor
) -> None:
    assert _found(service, maria, name="Katherine Johnson", email="kj@nasa.example") == []
    assert _found(service, maria, name="%", company_name="_") == []  # no LIKE wildcards
    assert _found(service, maria) == []


# ============================================================ create_customer


def test_create_customer_writes_the_customer_its_address_and_one_event(
    engine: Engine, service: CustomerEditService, maria: Actor
) -> None:
    details = CustomerDetails(
        name="Ada King", email="Ada@Example.COM", phone="020 7946 0958", country="United Kingdom"
    )
    customer = service.create_customer(details, _home(), maria)
    row = _row(engine, _customer, id=customer)
    assert (row.name, row.email, row.phone, row.country, row.currency) == (
        "Ada King",
        "Ada@example.com",
        "+442079460958",
        "GB",
        "GBP",
    )
    assert (row.kind, row.account_state, row.lifecycle_status, row.version) == (
        "individual",
        "active",
        "inactive",
        1,
    )
    assert row.updated_by_agent_id == maria.agent_id
    assert row.registered_at.replace(tzinfo=UTC) == NOW
    address = _row(engine, _address, customer_id=customer)
    assert (address.kind, address.is_default, address.valid_to) == ("billing", True, None)
    event = _only_event(engine, customer, maria)
    assert event.summary == "Created the individual customer Ada King"
    assert event.details == {"email": "Ada@example.com"}


def test_create_customer_as_a_business_without_an_address(
    engine: Engine, service: CustomerEditService, maria: Actor
) -> None:
    details = CustomerDetails(
        kind="business", name="Katrin Müller", email="katrin@nordlicht.example", country="DE",
        company_name="Nordlicht GmbH", vat_id="DE287456913", payment_terms="net30",
    )  # fmt: skip
    customer = service.create_customer(details, None, maria)
    row = _row(engine, _customer, id=customer)
    assert (row.kind, row.company_name, row.vat_id, row.currency) == (
        "business",
        "Nordlicht GmbH",
        "DE287456913",
        "EUR",
    )
    assert _rows(engine, _address, customer_id=customer) == []
    _only_event(engine, customer, maria)


def test_create_customer_with_a_shipping_address_has_no_default(
    engine: Engine, service: CustomerEditService, maria: Actor
) -> None:
    details = CustomerDetails(name="Ada King", email="ada@example.com", country="GB")
    customer = service.create_customer(details, _home(kind="shipping", make_default=True), maria)
    assert _row(engine, _address, customer_id=customer).is_default is False


def test_create_customer_refuses_invalid_input_writing_nothing(
    engine: Engine, service: CustomerEditService, maria: Actor
) -> None:
    good = CustomerDetails(name="Ada King", email="ada@example.com", country="GB")
    cases = [
        (CustomerDetails(name="Ada King", email="ada@"), _home(), "email"),
        (CustomerDetails(name="", email="ada@example.com"), None, "name"),
        (CustomerDetails(name=f"Ada{OSC52}", email="ada@example.com"), None, "name"),
        (CustomerDetails(kind="business", name="Ada", email="ada@example.com"), None,
         "company_name"),
        (good, _home(line1=""), "line1"),
        (good, _home(city=f"London{BIDI}"), "city"),
    ]  # fmt: skip
    for details, address, field in cases:
        _refused(engine, lambda d=details, a=address: service.create_customer(d, a, maria), field)


def test_create_customer_reports_customer_and_address_errors_together(
    engine: Engine, service: CustomerEditService, maria: Actor
) -> None:
    details = CustomerDetails(name="Ada King", email="ada@", country="GB")
    refusal = _refused(
        engine, lambda: service.create_customer(details, _home(city=""), maria), "email"
    )
    assert set(refusal.errors) == {"email", "city"}


# ============================================================== register_agent


def test_register_agent_creates_the_agent_once(engine: Engine) -> None:
    first = register_agent(engine, Actor.agent("maria.lopez", display_name="Maria Lopez"))
    assert first.agent_id is not None
    again = register_agent(engine, Actor.agent("maria.lopez", display_name="M. Lopez"))
    assert again.agent_id == first.agent_id
    assert again.display_name == "Maria Lopez"  # the stored name
    row = _row(engine, _agent)
    assert (row.id, row.username, row.display_name, row.role, row.active) == (
        first.agent_id,
        "maria.lopez",
        "Maria Lopez",
        "agent",
        True,
    )


def test_register_agent_keeps_the_role_and_tells_agents_apart(engine: Engine) -> None:
    boss = register_agent(engine, Actor.agent("lukas", role=AgentRole.MANAGER))
    other = register_agent(engine, Actor.agent("sam"))
    assert boss.agent_id != other.agent_id
    assert boss.label == "lukas"
    assert register_agent(engine, Actor.agent("lukas")).role == AgentRole.MANAGER
    assert [r.role for r in _rows(engine, _agent)] == ["manager", "agent"]


def test_register_agent_leaves_system_customer_and_known_actors_alone(engine: Engine) -> None:
    known = Actor.agent("someone", agent_id=99, display_name="Someone")
    for actor in (Actor.system(), Actor.customer(), known):
        assert register_agent(engine, actor) is actor
    assert _rows(engine, _agent) == []


def test_an_unregistered_actor_is_named_system_in_a_stale_edit(
    engine: Engine, service: CustomerEditService, customer: int, sam: Actor
) -> None:
    service.update_details(customer, 1, _ada(name="Ada King"), Actor.system())
    with pytest.raises(StaleEdit) as raised:
        service.update_details(customer, 1, _ada(name="Ada Byron"), sam)
    assert str(raised.value).startswith("changed by system at ")


def test_follow_up_dates_are_typed_as_iso_days() -> None:
    assert parse_day(" 2026-12-01 ") == date(2026, 12, 1)
    assert parse_day("") is None
    with pytest.raises(InvalidInput) as raised:
        parse_day("next tuesday")
    assert "YYYY-MM-DD" in raised.value.errors["follow_up_on"]
