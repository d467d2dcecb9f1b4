"""ProfileService: the five tabs of a profile, read from real databases (both engines).

First the demo seed's showcase customers (known stories with exact figures), then
hand-built customers for the finer rules: refunds under their payment, credit,
usage and its trend, preferences, outstanding invoices, invoices, merges.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.models.profile import CustomerProfile, UsageMonth, UsageView
from crm_tui.services.actor import Actor
from crm_tui.services.demo_seed import SHOWCASE, seed_demo
from crm_tui.services.profile import (
    CUSTOMER_ACTOR_LABEL,
    CustomerNotFound,
    InvoiceNotFound,
    ProfileService,
)
from tests.factories import (
    T0,
    add_agent,
    add_customer,
    add_event,
    add_invoice,
    add_payment,
    add_plan,
    add_refund,
    add_subscription,
)

SYSTEM = Actor.system()


def _profile(engine: Engine, customer_id: int) -> CustomerProfile:
    return ProfileService(engine).profile(customer_id, SYSTEM)


def _insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as c:
        c.execute(sa.insert(table.__table__), rows)


def _newest_first(moments: list[Any]) -> bool:
    return moments == sorted(moments, reverse=True)


# ====================================================================== showcase


@pytest.fixture
def showcase(engine: Engine) -> Engine:
    """The demo data: 20 customers, the first four the showcase ones."""
    seed_demo(engine, 20)
    return engine


def _agent_names(engine: Engine) -> set[str]:
    with engine.connect() as c:
        return set(c.execute(sa.select(t.Agent.display_name)).scalars())  # type: ignore[call-overload]


def test_showcase_1_lifetime_value_is_exactly_2142_dollars(showcase: Engine) -> None:
    profile = _profile(showcase, SHOWCASE["loyal_upgrader"])
    # 12 × $89 (Pro) + 6 × $129 (Premium) + a $300 order.
    expected = 12 * 8900 + 6 * 12900 + 30000
    assert expected == 214200
    assert profile.money.lifetime_value_minor == expected
    assert profile.ltv_minor == expected
    assert profile.money.collected_minor == expected
    assert (profile.money.refunded_minor, profile.money.total_payments) == (0, 19)
    assert profile.money.currency == "USD"


def test_showcase_1_failed_payment_is_listed_but_not_counted(showcase: Engine) -> None:
    profile = _profile(showcase, SHOWCASE["loyal_upgrader"])
    failed = [p for p in profile.payments if p.status == "failed"]
    assert [(p.amount_minor, p.failure_reason) for p in failed] == [(8900, "insufficient_funds")]
    assert profile.payments_count == 20  # 19 collected and the failed one
    assert profile.money.total_payments == 19


def test_showcase_1_subscriptions_show_the_upgrade(showcase: Engine) -> None:
    profile = _profile(showcase, SHOWCASE["loyal_upgrader"])
    assert [(s.plan, s.status) for s in profile.subscriptions] == [
        ("Premium", "active"),
        ("Pro", "cancelled"),
    ]
    assert profile.current_plan == "Premium"
    assert profile.money.monthly_income_minor == profile.mrr_minor == 12900
    assert (profile.money.active_subscriptions, profile.money.ended_subscriptions) == (1, 1)
    assert profile.next_renewal == profile.subscriptions[0].renews_at is not None
    assert [o.items for o in profile.orders] == [("2 × Room sensor", "1 × Installation visit")]


def test_showcase_2_is_a_business_with_its_company_facts(showcase: Engine) -> None:
    profile = _profile(showcase, SHOWCASE["business_account"])
    assert profile.kind == "business"
    assert profile.company_name == "Nordlicht Analytics GmbH"
    assert profile.vat_id.startswith("DE")
    assert profile.payment_terms == "net30"
    assert profile.billing_group == "Enterprise"
    assert profile.billing_contact.startswith("Jonas Weber")
    assert profile.money.currency == "EUR"


def test_showcase_2_open_invoice_is_outstanding(showcase: Engine) -> None:
    service = ProfileService(showcase)
    profile = service.profile(SHOWCASE["business_account"], SYSTEM)
    assert profile.money.outstanding_minor > 0
    # The newest invoice is open and its payment still pending: that is what is owed.
    pending = [p for p in profile.payments if p.status == "pending"]
    assert len(pending) == 1 and pending[0].invoice_id is not None
    invoice = service.invoice(pending[0].invoice_id, SYSTEM)
    assert invoice.status == "open"
    assert invoice.number == pending[0].invoice_number
    assert profile.money.outstanding_minor == invoice.total_minor


def test_showcase_2_hardware_subscription_shows_cost_recovery(showcase: Engine) -> None:
    profile = _profile(showcase, SHOWCASE["business_account"])
    hardware = [s for s in profile.subscriptions if s.plan_kind == "hardware"]
    assert len(hardware) == 1
    hub = hardware[0]
    assert hub.asset_cost_minor and hub.asset_cost_minor > 0
    paid = sum(
        p.amount_minor - p.refunded_minor
        for p in profile.payments
        if p.subscription_id == hub.id and p.status == "succeeded"
    )
    assert hub.collected_minor == paid > 0
    assert hub.cost_recovery == pytest.approx(paid / hub.asset_cost_minor)
    # A service plan has no asset, so no cost recovery.
    assert all(s.cost_recovery is None for s in profile.subscriptions if s is not hub)


def test_showcase_3_is_blocked_with_three_changes_newest_first(showcase: Engine) -> None:
    profile = _profile(showcase, SHOWCASE["blocked_account"])
    assert profile.account_state == "blocked"
    history = profile.status_history
    assert [(h.from_state, h.to_state) for h in history] == [
        ("active", "blocked"),
        ("deactivated", "active"),
        ("active", "deactivated"),
    ]
    assert _newest_first([h.changed_at for h in history])
    assert len({h.changed_at for h in history}) == 3
    agents = _agent_names(showcase)
    for change in history:
        assert change.by in agents
        assert len(change.reason) > 10
        assert change.changed_at.tzinfo is not None
    assert "Chargeback" in history[0].reason


def test_showcase_4_partial_refund_is_listed_under_its_payment(showcase: Engine) -> None:
    profile = _profile(showcase, SHOWCASE["partial_refund"])
    partial = [p for p in profile.payments if p.status == "partially_refunded"]
    assert len(partial) == 1
    payment = partial[0]
    assert (payment.amount_minor, payment.refunded_minor) == (11900, 5950)
    assert [(r.amount_minor, r.currency, r.reason) for r in payment.refunds] == [
        (5950, "EUR", "Service outage credit: 15 days")
    ]
    assert payment.refunds[0].by in _agent_names(showcase)
    assert all(p.refunds == () for p in profile.payments if p is not payment)
    assert profile.money.refunded_minor == 5950
    assert profile.money.lifetime_value_minor == 5 * 11900 - 5950 == profile.ltv_minor


def test_showcase_activity_names_agents_the_system_and_the_customer(showcase: Engine) -> None:
    agents = _agent_names(showcase)
    for key in ("loyal_upgrader", "partial_refund"):
        activity = _profile(showcase, SHOWCASE[key]).activity
        assert {a.actor_type for a in activity} == {"agent", "system", "customer"}, key
        for event in activity:
            if event.actor_type == "agent":
                assert event.actor in agents, event
            elif event.actor_type == "system":
                assert event.actor == "system", event
            else:
                assert event.actor == CUSTOMER_ACTOR_LABEL == "customer (self-service)", event


def test_showcase_histories_are_newest_first(showcase: Engine) -> None:
    for key, customer_id in SHOWCASE.items():
        profile = _profile(showcase, customer_id)
        assert len(profile.activity) >= 3 and len(profile.payments) >= 3, key
        assert _newest_first([a.occurred_at for a in profile.activity]), key
        assert _newest_first([p.created_at for p in profile.payments]), key
        assert _newest_first([s.started_at for s in profile.subscriptions]), key
        assert _newest_first([n.created_at for n in profile.notes]), key
        assert _newest_first([h.changed_at for h in profile.status_history]), key


def test_showcase_profile_is_plain_json(showcase: Engine) -> None:
    document = _profile(showcase, SHOWCASE["partial_refund"]).as_json()
    refunded = [p for p in document["payments"] if p["refunds"]]
    assert refunded[0]["refunds"][0]["amount_minor"] == 5950
    assert document["money"]["lifetime_value_minor"] == 5 * 11900 - 5950
    assert {e["actor"] for e in document["activity"]} >= {"system", CUSTOMER_ACTOR_LABEL}


# ==================================================================== hand-built


def test_refunds_are_grouped_under_their_payment_oldest_first(engine: Engine) -> None:
    with engine.begin() as c:
        agent = add_agent(c, "maria", display_name="Maria Lopez")
        customer = add_customer(c)
        other = add_customer(c, email="other@example.com")
        first = add_payment(c, customer, amount_minor=5000, created_at=T0)
        second = add_payment(
            c,
            customer,
            amount_minor=8000,
            refunded_minor=3000,
            status="partially_refunded",
            created_at=T0 + timedelta(days=30),
        )
        later = add_refund(c, second, 2000, created_at=T0 + timedelta(days=40), reason="late")
        earlier = add_refund(
            c, second, 1000, created_at=T0 + timedelta(days=35), reason="early", agent_id=agent
        )
        foreign = add_payment(c, other, amount_minor=999)
        add_refund(c, foreign, 999)
    profile = _profile(engine, customer)
    assert [p.id for p in profile.payments] == [second, first]
    refunds = profile.payments[0].refunds
    assert [(r.id, r.amount_minor, r.reason, r.by) for r in refunds] == [
        (earlier, 1000, "early", "Maria Lopez"),
        (later, 2000, "late", "system"),
    ]
    assert profile.payments[1].refunds == ()
    assert profile.money.refunded_minor == 3000
    assert profile.money.collected_minor == 13000
    assert profile.money.lifetime_value_minor == 10000


def test_payments_at_the_same_moment_are_newest_id_first(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        ids = [add_payment(c, customer, created_at=T0) for _ in range(3)]
    assert [p.id for p in _profile(engine, customer).payments] == ids[::-1]


def test_money_counts_only_collected_payments(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        add_payment(c, customer, amount_minor=1000, status="succeeded")
        add_payment(c, customer, amount_minor=2000, status="refunded", refunded_minor=2000)
        add_payment(c, customer, amount_minor=4000, status="failed")
        add_payment(c, customer, amount_minor=8000, status="pending")
    money = _profile(engine, customer).money
    assert (money.collected_minor, money.refunded_minor) == (3000, 2000)
    assert (money.lifetime_value_minor, money.total_payments) == (1000, 2)


def test_credit_is_the_sum_of_grants_and_uses(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        other = add_customer(c, email="other@example.com")
    credit = {"currency": "USD", "created_at": T0, "reason": "goodwill"}
    _insert(
        engine,
        t.Credit,
        [
            {"customer_id": customer, "amount_minor": 1500} | credit,
            {"customer_id": customer, "amount_minor": -400} | credit,
            {"customer_id": other, "amount_minor": 9999} | credit,
        ],
    )
    assert _profile(engine, customer).money.credit_minor == 1100
    with engine.begin() as c:
        stranger = add_customer(c, email="none@example.com")
    assert _profile(engine, stranger).money.credit_minor == 0


def test_outstanding_is_unpaid_invoices_less_what_was_paid_against_them(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        partly = add_invoice(c, customer, "INV-1", total_minor=10000, status="open")
        add_payment(c, customer, invoice_id=partly, amount_minor=4000)
        add_payment(c, customer, invoice_id=partly, amount_minor=5000, status="failed")
        add_invoice(c, customer, "INV-2", total_minor=2500, status="uncollectible")
        add_invoice(c, customer, "INV-3", total_minor=7000, status="paid")
        add_invoice(c, customer, "INV-4", total_minor=7000, status="void")
        add_invoice(c, customer, "INV-5", total_minor=7000, status="draft")
    assert _profile(engine, customer).money.outstanding_minor == 6000 + 2500


def test_usage_shows_the_current_plans_metric_for_six_months(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        api = add_plan(c, "api", usage_metric="api_calls")
        old_plan = add_plan(c, "old", usage_metric="logins")
        old = add_subscription(c, customer, old_plan, status="cancelled", started_at=T0)
        current = add_subscription(c, customer, api, started_at=T0 + timedelta(days=1))
    months = [date(2025, m, 1) for m in range(1, 9)]  # eight months, Jan to Aug
    rows = [
        {"subscription_id": current, "period_start": m, "metric": "api_calls", "quantity": 100}
        for m in months[:-1]
    ]
    rows.append(
        {"subscription_id": current, "period_start": months[-1], "metric": "api_calls",
         "quantity": 500}
    )  # fmt: skip
    rows += [
        {"subscription_id": current, "period_start": m, "metric": "logins", "quantity": 7}
        for m in months
    ]
    rows.append({"subscription_id": old, "period_start": months[-1], "metric": "api_calls",
                 "quantity": 1})  # fmt: skip
    _insert(engine, t.Usage, rows)
    usage = _profile(engine, customer).usage
    assert usage is not None
    assert usage.metric == "api_calls"
    assert [m.month for m in usage.months] == months[2:]  # the newest six, oldest first
    assert [m.quantity for m in usage.months] == [100] * 5 + [500]
    assert usage.trend == "up"


def test_usage_is_none_without_a_live_subscription(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        plan = add_plan(c)
        add_subscription(c, customer, plan, status="expired")
    assert _profile(engine, customer).usage is None


def test_usage_of_a_live_plan_without_rows_is_empty_and_flat(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        add_subscription(c, customer, add_plan(c, usage_metric="seats"), status="trial")
    usage = _profile(engine, customer).usage
    assert usage == UsageView("seats", ())
    assert usage.trend == "flat"


@pytest.mark.parametrize(
    ("quantities", "trend"),
    [
        ([100, 100, 100], "flat"),
        ([100, 100, 109], "flat"),
        ([100, 100, 111], "up"),
        ([100, 100, 89], "down"),
        ([100, 100, 91], "flat"),
        ([50], "flat"),
        ([], "flat"),
    ],
)
def test_usage_trend_compares_the_last_month_with_the_average_before(
    quantities: list[int], trend: str
) -> None:
    months = tuple(UsageMonth(date(2025, i + 1, 1), q) for i, q in enumerate(quantities))
    assert UsageView("logins", months).trend == trend


def test_preferences_are_read_when_set(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        without = add_customer(c, email="plain@example.com")
    _insert(
        engine,
        t.Preference,
        [
            {
                "customer_id": customer,
                "contract_length_months": 12,
                "payment_method": "sepa_debit",
                "billing_frequency": "yearly",
                "communication": "phone",
            }
        ],
    )
    preferences = _profile(engine, customer).preferences
    assert preferences is not None
    assert preferences.as_json() == {
        "contract_length_months": 12,
        "payment_method": "sepa_debit",
        "billing_frequency": "yearly",
        "communication": "phone",
    }
    assert _profile(engine, without).preferences is None


def test_activity_is_newest_first_with_actor_labels_and_details(engine: Engine) -> None:
    with engine.begin() as c:
        maria = add_agent(c, "maria", display_name="Maria Lopez")
        customer = add_customer(c)
        by_system = add_event(c, customer, occurred_at=T0, details={"plan": "Pro"})
        by_customer = add_event(
            c, customer, occurred_at=T0 + timedelta(hours=1), actor_type="customer"
        )
        by_agent = add_event(
            c,
            customer,
            occurred_at=T0 + timedelta(hours=2),
            actor_type="agent",
            agent_id=maria,
            summary="Called the customer",
        )
        unknown_agent = add_event(c, customer, occurred_at=T0 - timedelta(days=1),
                                  actor_type="agent")  # fmt: skip
    activity = _profile(engine, customer).activity
    assert [(a.id, a.actor) for a in activity] == [
        (by_agent, "Maria Lopez"),
        (by_customer, "customer (self-service)"),
        (by_system, "system"),
        (unknown_agent, "agent (unknown)"),
    ]
    assert activity[0].summary == "Called the customer"
    assert activity[2].details == (("plan", "Pro"),)
    assert activity[0].occurred_at.tzinfo is not None


def test_notes_and_status_history_name_their_agent(engine: Engine) -> None:
    with engine.begin() as c:
        maria = add_agent(c, "maria", display_name="Maria Lopez")
        customer = add_customer(c, account_state="deactivated", assigned_agent_id=maria)
    _insert(
        engine,
        t.Note,
        [
            {"customer_id": customer, "type": "phone", "summary": "Old call", "body": "",
             "created_at": T0, "agent_id": maria, "follow_up_on": None},
            {"customer_id": customer, "type": "email", "summary": "New mail", "body": "Hi",
             "created_at": T0 + timedelta(days=1), "agent_id": None,
             "follow_up_on": date(2026, 2, 1)},
        ],
    )  # fmt: skip
    _insert(
        engine,
        t.AccountStateChange,
        [
            {"customer_id": customer, "from_state": "active", "to_state": "deactivated",
             "reason": "Asked to close", "changed_at": T0, "agent_id": maria},
        ],
    )  # fmt: skip
    profile = _profile(engine, customer)
    assert [(n.summary, n.by, n.follow_up_on) for n in profile.notes] == [
        ("New mail", "system", date(2026, 2, 1)),
        ("Old call", "Maria Lopez", None),
    ]
    assert [(h.to_state, h.reason, h.by) for h in profile.status_history] == [
        ("deactivated", "Asked to close", "Maria Lopez")
    ]
    assert profile.assigned_agent == "Maria Lopez"


def test_invoice_reads_its_lines_in_order(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        invoice = add_invoice(
            c, customer, "INV-0000042", total_minor=5800, due_at=T0 + timedelta(days=30)
        )
    _insert(
        engine,
        t.InvoiceLine,
        [
            {"invoice_id": invoice, "description": "Pro (monthly)", "quantity": 1,
             "unit_amount_minor": 1900, "amount_minor": 1900},
            {"invoice_id": invoice, "description": "Extra seat", "quantity": 3,
             "unit_amount_minor": 1300, "amount_minor": 3900},
        ],
    )  # fmt: skip
    view = ProfileService(engine).invoice(invoice, SYSTEM)
    assert (view.number, view.status, view.total_minor, view.currency) == (
        "INV-0000042",
        "open",
        5800,
        "USD",
    )
    assert view.issued_at == T0 and view.due_at == T0 + timedelta(days=30)
    assert [(line.description, line.quantity, line.amount_minor) for line in view.lines] == [
        ("Pro (monthly)", 1, 1900),
        ("Extra seat", 3, 3900),
    ]
    assert sum(line.amount_minor for line in view.lines) == view.total_minor
    assert view.as_json()["lines"][1]["unit_amount_minor"] == 1300


def test_unknown_invoice_is_not_found(engine: Engine) -> None:
    with pytest.raises(InvoiceNotFound) as raised:
        ProfileService(engine).invoice(31337, SYSTEM)
    assert raised.value.invoice_id == 31337
    assert "31337" in str(raised.value)


def test_merged_away_customer_opens_the_survivor_with_its_history(engine: Engine) -> None:
    with engine.begin() as c:
        survivor = add_customer(c, name="Kept Customer", email="kept@example.com")
        add_payment(c, survivor, amount_minor=4200)
    _insert(
        engine,
        t.MergedCustomer,
        [{"old_customer_id": 777, "survivor_id": survivor, "merged_at": T0}],
    )
    profile = _profile(engine, 777)
    assert (profile.id, profile.name) == (survivor, "Kept Customer")
    assert [p.amount_minor for p in profile.payments] == [4200]


def test_unknown_customer_is_not_found(engine: Engine) -> None:
    with engine.begin() as c:
        add_customer(c)
    with pytest.raises(CustomerNotFound) as raised:
        _profile(engine, 404)
    assert raised.value.customer_id == 404


def test_next_renewal_is_the_soonest_billing_subscription(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c)
        plan = add_plan(c)
        soon, later = T0 + timedelta(days=3), T0 + timedelta(days=20)
        add_subscription(c, customer, plan, current_period_end=later)
        add_subscription(c, customer, plan, status="grace", current_period_end=soon)
        add_subscription(c, customer, plan, status="paused", current_period_end=T0)
        add_subscription(c, customer, plan, status="cancelled", current_period_end=T0)
    profile = _profile(engine, customer)
    assert profile.next_renewal == soon
    assert profile.money.monthly_income_minor == 2 * 1900
    assert (profile.money.active_subscriptions, profile.money.ended_subscriptions) == (3, 1)
