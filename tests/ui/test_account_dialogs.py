"""The profile's account-action dialogs (issue 4), keyboard only, on a real SQLite file.

The providers are the offline ones (under the names manual, stripe and paypal), so
every action goes through its intent as in production; a tiny provider stands in
for a card decline. Each dialog: escape / Cancel change nothing, bad input is refused
beside its field with nothing written, and a done action shows in the Payments or
Activity tab at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, TextArea

from crm_tui.app import CrmApp
from crm_tui.models import tables as t
from crm_tui.screens.account_dialog import AccountActionDialog, SubscriptionPicker
from crm_tui.screens.form import FormField
from crm_tui.screens.profile import ProfileScreen
from crm_tui.services.database import create_db_engine
from crm_tui.services.providers.base import ProviderCharge
from crm_tui.services.providers.offline import OfflineProvider
from crm_tui.widgets.record_list import RecordList
from tests.factories import (
    T0,
    add_customer,
    add_payment,
    add_plan,
    add_subscription,
)
from tests.ui.conftest import busy, make_app, open_profile, screen_text, wait_for_profile

PERIOD_END = T0 + timedelta(days=20)  # 2026-02-04
TRIAL_END = T0 + timedelta(days=5)

GRACE, TWO_SUBS, PAUSED, BUSY = 1, 2, 3, 4


def _accounts(connection: Any) -> None:
    gold = add_plan(connection, "gold", name="Gold", amount_minor=8900)
    silver = add_plan(connection, "silver", name="Silver", amount_minor=4900)
    add_plan(connection, "platinum", name="Platinum", amount_minor=12900)
    add_plan(connection, "euro", name="Euro", amount_minor=5000, currency="EUR")

    # 1: one Stripe subscription; a succeeded and a failed Stripe payment, a pending
    # manual one (a setup fee paid by bank transfer).
    grace = add_customer(
        connection,
        name="Grace Hopper",
        email="grace@navy.example",
        current_plan="Gold",
        has_active_subscription=True,
    )
    connection.execute(
        sa.insert(t.ExternalId.__table__).values(  # type: ignore[attr-defined]
            customer_id=grace, provider="stripe", external_id="cus_GRACE"
        )
    )
    sub = add_subscription(
        connection,
        grace,
        gold,
        amount_minor=8900,
        provider_id="sub_GRACE",
        current_period_end=PERIOD_END,
    )
    add_payment(connection, grace, subscription_id=sub, amount_minor=8900, provider_id="ch_OK")
    add_payment(
        connection,
        grace,
        subscription_id=sub,
        amount_minor=8900,
        status="failed",
        failure_reason="Your card has insufficient funds.",
        provider_id="ch_FAIL",
        created_at=T0 + timedelta(days=1),
    )
    add_payment(
        connection,
        grace,
        amount_minor=30000,
        status="pending",
        method="bank_transfer",
        provider="manual",
        description="Setup fee",
        created_at=T0 + timedelta(days=2),
    )

    # 2: two live subscriptions, one in trial.
    two = add_customer(connection, name="Alan Turing", email="alan@bletchley.example")
    add_subscription(
        connection,
        two,
        gold,
        amount_minor=8900,
        provider="manual",
        provider_id="man_ALAN",
        current_period_end=PERIOD_END,
    )
    add_subscription(
        connection,
        two,
        silver,
        status="trial",
        amount_minor=4900,
        provider_id="sub_TRIAL",
        trial_end=TRIAL_END,
    )

    # 3: a paused subscription.
    paused = add_customer(connection, name="Katherine Johnson", email="kj@nasa.example")
    add_subscription(
        connection,
        paused,
        silver,
        status="paused",
        amount_minor=4900,
        provider_id="sub_PAUSED",
    )

    # 4: a subscription whose payment is still in progress.
    busy = add_customer(connection, name="Busy Bee", email="busy@hive.example")
    busy_sub = add_subscription(connection, busy, gold, amount_minor=8900, provider_id="sub_BUSY")
    add_payment(connection, busy, subscription_id=busy_sub, status="pending")


@pytest.fixture
def accounts_url(db_url: str) -> str:
    """The five account customers, on SQLite and then on PostgreSQL."""
    return _with_accounts(db_url)


@pytest.fixture
def sqlite_accounts_url(sqlite_url: str) -> str:
    """The same on SQLite only: the snapshot (the screen does not depend on the engine)."""
    return _with_accounts(sqlite_url)


def _with_accounts(url: str) -> str:
    engine = create_db_engine(url)
    with engine.begin() as connection:
        _accounts(connection)
    engine.dispose()
    return url


class DecliningStripe(OfflineProvider):
    """Stripe that declines every retry (the real path is tested against localstripe)."""

    def retry_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderCharge:
        return ProviderCharge("ch_DECLINED", 0, "", "failed", "Your card was declined.")


def accounts_app(url: str, stripe: OfflineProvider | None = None) -> CrmApp:
    app = make_app(url)
    app._providers = {
        "manual": OfflineProvider(),
        "stripe": stripe or OfflineProvider("stripe"),
        "paypal": OfflineProvider("paypal"),
    }
    return app


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        rows = list(connection.execute(sa.text(sql)))
    engine.dispose()
    return rows


def _snapshot(url: str) -> dict[str, list[Any]]:
    """Everything an action could write."""
    tables = (
        "subscription",
        "payment",
        "credit",
        "provider_intent",
        "activity_event",
        "invoice",
        "ticket",
        "escalation",
    )
    return {name: _rows(url, f"SELECT * FROM {name} ORDER BY id") for name in tables}


async def _dialog(pilot: Pilot[Any], key: str) -> Any:
    """Press `key` on the profile; the dialog (or picker) it opens, once it is drawn."""
    await pilot.press(key)
    for _ in range(200):
        await pilot.pause(0.02)
        screen = pilot.app.screen
        title = getattr(screen, "TITLE_TEXT", None) or getattr(screen, "title_text", None)
        if isinstance(screen, (AccountActionDialog, SubscriptionPicker)) and (
            title in screen_text(pilot.app)
        ):
            return screen
    raise AssertionError(f"{key} opened no dialog")


async def _next_dialog(pilot: Pilot[Any], previous: Any) -> Any:
    """The dialog that replaced `previous` (a picker, or the cancel dialog's offer)."""
    for _ in range(200):
        await pilot.pause(0.02)
        screen = pilot.app.screen
        if (
            isinstance(screen, AccountActionDialog)
            and screen is not previous
            and screen.TITLE_TEXT in screen_text(pilot.app)
        ):
            return screen
    raise AssertionError(f"no dialog followed {previous}")


def _flat(app: Any) -> str:
    """The screen's text as one line, without the borders: a dialog's wrapped sentences
    read whole."""
    lines = (line.strip(" █▀▄▊▎") for line in screen_text(app).splitlines())
    return " ".join(line for line in lines if line)


def _notes(app: Any) -> str:
    """The notifications shown so far."""
    return "\n".join(str(n.message) for n in app._notifications)


def _fill(dialog: Any, key: str, value: str) -> None:
    control = dialog.query_one(f"#field-{key}", FormField).control
    if isinstance(control, TextArea):
        control.text = value
    else:
        control.value = value


async def _confirm(pilot: Pilot[Any]) -> None:
    """From Cancel (where focus starts), tab to the action and press it; wait for the
    outcome (the dialog closed, or its worker done)."""
    dialog = pilot.app.screen
    cancel = dialog.query_one("#cancel", Button)
    if dialog.saving or dialog.focused is not cancel:  # after a refusal: back to Cancel
        dialog.set_focus(cancel)
        await pilot.pause()
    await pilot.press("tab", "enter")
    await pilot.pause(0.1)
    for _ in range(300):
        if pilot.app.screen is not dialog:
            break
        if not dialog.saving and not busy(dialog):
            break
        await pilot.pause(0.02)
    await pilot.pause()


def _field_error(dialog: Any, key: str) -> str:
    field = dialog.query_one(f"#field-{key}", FormField)
    return str(field.query_one(".field-error").render()) if field.has_class("-invalid") else ""


async def _select_payment(pilot: Pilot[Any], screen: ProfileScreen, status: str) -> None:
    await pilot.press("3")
    payments = screen.query_one("#payments-list", RecordList)
    index = next(i for i, r in enumerate(payments.records) if r.cells[2].startswith(status))
    payments.move(index - payments.cursor)
    await pilot.pause()


async def _profile(pilot: Pilot[Any], customer: int) -> ProfileScreen:
    screen = await open_profile(pilot, customer)
    assert isinstance(screen, ProfileScreen)
    return screen


async def _done(pilot: Pilot[Any], before: Any, tab: str) -> str:
    """The profile read again after the dialog closed; the text of `tab` (3 or 4)."""
    screen = await wait_for_profile(pilot, previous=before)
    await pilot.press(tab)
    await pilot.pause(0.1)
    assert isinstance(screen, ProfileScreen)
    return screen_text(pilot.app)


async def _escape_changes_nothing(pilot: Pilot[Any], url: str, key: str) -> None:
    """Open the dialog with `key`, close it with escape, then with its Cancel button."""
    before = _snapshot(url)
    for close in ("escape", "enter"):  # enter: on Cancel, where focus starts
        dialog = await _dialog(pilot, key)
        if isinstance(dialog, AccountActionDialog):
            assert dialog.focused is dialog.query_one("#cancel", Button)
            if dialog.query("#field-reason"):  # a ticket asks for a subject instead
                _fill(dialog, "reason", "Should not be recorded")
        await pilot.press(close)
        await pilot.pause(0.2)
        assert not isinstance(pilot.app.screen, AccountActionDialog)
    assert _snapshot(url) == before


# ------------------------------------------------------------------------- retry


async def test_retry_collects_a_failed_payment(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _select_payment(pilot, screen, "failed")
        dialog = await _dialog(pilot, "y")
        text = _flat(app)
        assert "Customer: Grace Hopper (#1)" in text
        assert "Payment #2: $89.00 USD on 2026-01-16 · card · stripe ch_FAIL" in text
        assert "It failed: Your card has insufficient funds." in text
        assert "Charges $89.00 USD again through stripe, now." in text
        _fill(dialog, "reason", "Customer topped up the card")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "3")
        assert "Payments: 4" in text
        text = await _done(pilot, None, "4")
        assert "Retried payment #2: $89.00 collected (Customer topped up the card)" in text
    assert _rows(accounts_url, "SELECT status FROM payment WHERE customer_id = 1 ORDER BY id") == [
        ("succeeded",),
        ("failed",),
        ("pending",),
        ("succeeded",),
    ]


async def test_retry_declined_is_said_in_the_dialog_and_nothing_changes(
    accounts_url: str,
) -> None:
    app = accounts_app(accounts_url, stripe=DecliningStripe("stripe"))
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _select_payment(pilot, screen, "failed")
        before = _snapshot(accounts_url)
        dialog = await _dialog(pilot, "y")
        _fill(dialog, "reason", "Customer asked to try again")
        await _confirm(pilot)
        assert app.screen is dialog  # the dialog stays, with the provider's answer
        assert "Declined: Your card was declined. Nothing was collected." in _flat(app)
        after = _snapshot(accounts_url)
        assert after["payment"] == before["payment"]
        assert after["subscription"] == before["subscription"]
        assert after["invoice"] == before["invoice"]
        assert _rows(accounts_url, "SELECT status, error FROM provider_intent") == [
            ("failed", "Your card was declined.")
        ]


async def test_retry_without_a_reason_or_cancelled_writes_nothing(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _select_payment(pilot, screen, "failed")
        await _escape_changes_nothing(pilot, accounts_url, "y")
        before = _snapshot(accounts_url)
        dialog = await _dialog(pilot, "y")
        await _confirm(pilot)
        assert app.screen is dialog
        assert "is required" in _field_error(dialog, "reason")
        assert _snapshot(accounts_url) == before


async def test_retry_is_refused_on_a_payment_that_did_not_fail(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _select_payment(pilot, screen, "succeeded")
        await pilot.press("y")
        await pilot.pause(0.2)
        assert app.screen is screen
        assert "Only a failed payment can be retried" in _notes(app)


# ------------------------------------------------------------------------ credit


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("", "enter an amount"),
        ("-5", "must be zero or more"),
        ("1.234", "at most two decimals"),
        ("ten", "is not an amount"),
        ("0", "must be more than zero"),
    ],
    ids=["empty", "negative", "decimals", "not-a-number", "zero"],
)
async def test_credit_refuses_a_bad_amount_beside_it(
    accounts_url: str, amount: str, message: str
) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, GRACE)
        before = _snapshot(accounts_url)
        dialog = await _dialog(pilot, "dollar_sign")
        _fill(dialog, "amount", amount)
        _fill(dialog, "reason", "Goodwill for the outage")
        await _confirm(pilot)
        assert app.screen is dialog
        assert message in _field_error(dialog, "amount")
        assert _snapshot(accounts_url) == before


async def test_credit_is_applied_and_says_where_it_is_held(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _escape_changes_nothing(pilot, accounts_url, "dollar_sign")
        dialog = await _dialog(pilot, "dollar_sign")
        await pilot.pause(0.2)
        text = _flat(app)
        assert "Customer: Grace Hopper (#1)" in text
        assert "Adds credit in USD" in text
        assert "Held: on the Stripe customer balance of cus_GRACE." in text
        _fill(dialog, "amount", "12.50")
        _fill(dialog, "reason", "Goodwill for the outage")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert "Applied $12.50 credit: Goodwill for the outage" in text
    assert _rows(accounts_url, "SELECT customer_id, amount_minor, currency FROM credit") == [
        (GRACE, 1250, "USD")
    ]


async def test_credit_by_keyboard_alone_at_80x24(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _profile(pilot, GRACE)
        dialog = await _dialog(pilot, "dollar_sign")
        # Focus starts on Cancel: back to the amount, type, on to the reason, type,
        # past Cancel to Apply credit.
        await pilot.press("shift+tab", "shift+tab", *"7.25", "tab")
        await pilot.press(*[("space" if c == " " else c) for c in "Sorry for the wait"])
        await pilot.press("tab")
        assert dialog.focused is dialog.query_one("#cancel", Button)
        before = screen.profile
        await pilot.press("tab", "enter")
        await wait_for_profile(pilot, previous=before)
    assert _rows(accounts_url, "SELECT amount_minor, reason FROM credit") == [
        (725, "Sorry for the wait")
    ]


async def test_credit_without_a_provider_account_is_held_locally(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, TWO_SUBS)
        await _dialog(pilot, "dollar_sign")
        await pilot.pause(0.2)
        assert "Held: locally in crm-tui (no provider account)" in _flat(app)


# ------------------------------------------------------------------ pause, resume


async def test_pause_until_a_date(accounts_url: str) -> None:
    until = date.today() + timedelta(days=30)
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)  # one subscription: no picker
        await _escape_changes_nothing(pilot, accounts_url, "p")
        dialog = await _dialog(pilot, "p")
        text = _flat(app)
        assert "Subscription #1: Gold, $89.00 USD monthly · active · stripe sub_GRACE" in text
        assert "indefinitely, until it is resumed (u)" in text
        _fill(dialog, "until", until.isoformat())
        await pilot.pause()
        assert f"until {until.isoformat()}, when it resumes by itself" in _flat(app)
        _fill(dialog, "reason", "Travelling for a month")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert f"Paused until {until.isoformat()} (subscription #1): Travelling" in text
    assert _rows(accounts_url, "SELECT status FROM subscription WHERE id = 1") == [("paused",)]


@pytest.mark.parametrize(
    ("until", "message"),
    [("2026-02-30", "is not a date"), ("2020-01-01", "must be after today")],
    ids=["not-a-date", "in-the-past"],
)
async def test_pause_refuses_a_bad_date_beside_it(
    accounts_url: str, until: str, message: str
) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, GRACE)
        before = _snapshot(accounts_url)
        dialog = await _dialog(pilot, "p")
        _fill(dialog, "until", until)
        _fill(dialog, "reason", "Travelling for a month")
        await _confirm(pilot)
        assert app.screen is dialog
        assert message in _field_error(dialog, "until")
        assert _snapshot(accounts_url) == before


async def test_pause_asks_which_subscription_when_several_apply(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, TWO_SUBS)
        picker = await _dialog(pilot, "p")
        assert isinstance(picker, SubscriptionPicker)
        text = _flat(app)
        assert "Which subscription to pause?" in text
        assert "Silver, $49.00 USD monthly · trial · stripe sub_TRIAL" in text
        assert "Gold, $89.00 USD monthly · active · manual man_ALAN" in text
        await pilot.press("j", "enter")  # the second: Gold
        dialog = await _next_dialog(pilot, picker)
        assert "Subscription #2: Gold" in _flat(app)
        _fill(dialog, "reason", "Office closed for the summer")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert "Paused until resumed (subscription #2): Office closed" in text
    assert _rows(
        accounts_url, "SELECT id, status FROM subscription WHERE customer_id = 2 ORDER BY id"
    ) == [
        (2, "paused"),
        (3, "trial"),
    ]


async def test_resume_a_paused_subscription(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, PAUSED)
        await _escape_changes_nothing(pilot, accounts_url, "u")
        dialog = await _dialog(pilot, "u")
        text = _flat(app)
        assert "Customer: Katherine Johnson (#3)" in text
        assert "stripe sub_PAUSED (paused until resumed)" in text
        _fill(dialog, "reason", "Back from leave")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert "Resumed (subscription #4): Back from leave" in text
    assert _rows(accounts_url, "SELECT status FROM subscription WHERE id = 4") == [("active",)]


async def test_a_subscription_action_says_why_there_is_none(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        for key, why in (
            ("u", "No paused subscription to resume."),
            ("x", "No subscription in trial to extend."),
        ):
            await pilot.press(key)
            await pilot.pause(0.2)
            assert app.screen is screen
            assert why in _notes(app)


# ------------------------------------------------------------------------ cancel


async def test_cancel_shows_the_retention_offers_first_then_cancels_at_period_end(
    accounts_url: str,
) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _escape_changes_nothing(pilot, accounts_url, "c")
        dialog = await _dialog(pilot, "c")
        text = _flat(app)
        assert text.index("First offer to keep the customer:") < text.index("When")
        assert "Pause instead" in text and "20% credit: $17.80 USD" in text
        assert "at the period's end (2026-02-04)" in text
        assert "the customer keeps the service until then" in text
        _fill(dialog, "reason", "Moving to a competitor")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert "Set to cancel at the period's end (2026-02-04) (subscription #1)" in text
    assert _rows(
        accounts_url, "SELECT status, cancel_at_period_end FROM subscription WHERE id = 1"
    ) == [("active", 1)]


async def test_cancel_now(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        dialog = await _dialog(pilot, "c")
        _fill(dialog, "when", "now")
        await pilot.pause()
        assert "the service ends today" in _flat(app)
        _fill(dialog, "reason", "Fraudulent sign-up")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert "Cancelled now (subscription #1): Fraudulent sign-up" in text
    assert _rows(accounts_url, "SELECT status FROM subscription WHERE id = 1") == [("cancelled",)]


async def test_cancel_is_refused_while_a_payment_is_in_progress(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, BUSY)
        before = _snapshot(accounts_url)
        dialog = await _dialog(pilot, "c")
        _fill(dialog, "reason", "Customer asked to stop")
        await _confirm(pilot)
        assert app.screen is dialog
        assert "Not done: a payment on this subscription is in progress" in _flat(app)
        assert _snapshot(accounts_url) == before


async def test_cancel_offer_a_credit_instead(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        cancel = await _dialog(pilot, "c")
        cancel.query_one("#offer-credit", Button).press()
        dialog = await _next_dialog(pilot, cancel)
        assert dialog.value("amount") == "17.80"
        assert "Retention: 20% of one monthly payment of subscription #1" in _flat(app)
        _fill(dialog, "reason", "Stays for the discount")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert "Applied $17.80 credit: Stays for the discount" in text
    assert _rows(accounts_url, "SELECT status FROM subscription WHERE id = 1") == [("active",)]


async def test_cancel_offer_a_pause_instead(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, GRACE)
        cancel = await _dialog(pilot, "c")
        cancel.query_one("#offer-pause", Button).press()
        await _next_dialog(pilot, cancel)
        text = _flat(app)
        assert "Pause a subscription" in text
        assert "Retention: a pause instead of cancelling #1." in text


# ------------------------------------------------------------------- change plan


async def test_change_plan_states_the_price_then_changes(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _escape_changes_nothing(pilot, accounts_url, "m")
        dialog = await _dialog(pilot, "m")
        await pilot.pause(0.2)
        plans = dialog.query_one("#field-plan", FormField).control
        assert isinstance(plans, Select)
        # Same currency only, and not the current plan.
        assert [value for _label, value in plans._options[1:]] == ["silver", "platinum"]
        plans.value = "platinum"
        await pilot.pause(0.3)
        text = _flat(app)
        assert "New price: $129.00 USD monthly (Platinum), from now on." in text
        assert "Nothing is charged or credited now." in text  # the period is over
        assert "an estimate by crm-tui: the provider gives no preview" in text
        _fill(dialog, "reason", "Needs more seats")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert "Changed plan to Platinum ($129.00 monthly) (subscription #1)" in text
    assert _rows(accounts_url, "SELECT amount_minor FROM subscription WHERE id = 1") == [(12900,)]


async def test_change_plan_needs_a_plan(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, GRACE)
        before = _snapshot(accounts_url)
        dialog = await _dialog(pilot, "m")
        _fill(dialog, "reason", "Needs more seats")
        await _confirm(pilot)
        assert app.screen is dialog
        assert "choose the new plan" in _field_error(dialog, "plan")
        assert _snapshot(accounts_url) == before


# ------------------------------------------------------------------- extend trial


@pytest.mark.parametrize("days", ["0", "366", "ten"])
async def test_extend_trial_refuses_bad_days_beside_them(accounts_url: str, days: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, TWO_SUBS)
        before = _snapshot(accounts_url)
        dialog = await _dialog(pilot, "x")
        _fill(dialog, "days", days)
        _fill(dialog, "reason", "Evaluation took longer")
        await _confirm(pilot)
        assert app.screen is dialog
        assert "from 1 to 365" in _field_error(dialog, "days")
        assert _snapshot(accounts_url) == before


async def test_extend_trial_states_the_current_and_new_end(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, TWO_SUBS)  # one of its two is in trial: no picker
        await _escape_changes_nothing(pilot, accounts_url, "x")
        dialog = await _dialog(pilot, "x")
        _fill(dialog, "days", "10")
        await pilot.pause()
        new_end = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
        text = _flat(app)
        assert "Subscription #3: Silver" in text
        assert "Trial ends: 2026-01-20" in text
        assert f"New trial end: {new_end} (10 days from today: it had ended)" in text
        _fill(dialog, "reason", "Evaluation took longer")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert f"Extended the trial by 10 days, to {new_end} (subscription #3)" in text


# --------------------------------------------------------- mark paid, affiliate


async def test_mark_a_manual_payment_paid(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _select_payment(pilot, screen, "pending")
        await _escape_changes_nothing(pilot, accounts_url, "P")
        dialog = await _dialog(pilot, "P")
        text = _flat(app)
        assert "Payment #3: $300.00 USD on 2026-01-17 · bank_transfer · manual" in text
        assert "Nothing is collected from the customer." in text
        await _confirm(pilot)  # no reason yet
        assert "is required" in _field_error(dialog, "reason")
        _fill(dialog, "reason", "Bank transfer arrived")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "3")
        assert "pending" not in text
        text = await _done(pilot, None, "4")
        assert "Marked payment #3 of $300.00 as paid: Bank transfer arrived" in text
    assert _rows(accounts_url, "SELECT status FROM payment WHERE id = 3") == [("succeeded",)]


async def test_mark_paid_is_refused_on_a_card_payment(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _select_payment(pilot, screen, "failed")
        await pilot.press("P")
        await pilot.pause(0.2)
        assert app.screen is screen
        assert "retry it (y) instead" in _notes(app)


async def test_affiliate_and_commission(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _select_payment(pilot, screen, "succeeded")
        await _escape_changes_nothing(pilot, accounts_url, "A")
        before_rows = _snapshot(accounts_url)
        dialog = await _dialog(pilot, "A")
        assert "Sale: payment #1, $89.00 USD on 2026-01-15 · stripe ch_OK" in _flat(app)
        _fill(dialog, "affiliate", "Partner Co")
        _fill(dialog, "reason", "Partner referral")
        for commission, message in (("100", "cannot be more than the sale"), ("5.5.5", "not")):
            _fill(dialog, "commission", commission)
            await _confirm(pilot)
            assert app.screen is dialog
            assert message in _field_error(dialog, "commission")
        assert _snapshot(accounts_url) == before_rows
        _fill(dialog, "commission", "8.90")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "4")
        assert "Payment #1: affiliate Partner Co, commission $8.90" in text
    assert _rows(accounts_url, "SELECT affiliate, commission_minor FROM payment WHERE id = 1") == [
        ("Partner Co", 890)
    ]


# ------------------------------------------------------------------ every dialog


class SilentStripe(OfflineProvider):
    """Stripe that never answers a pause: the outcome is unknown."""

    def pause(self, subscription_id: str, *, until: Any, idempotency_key: str) -> Any:
        raise TimeoutError("read timed out")


async def test_a_pending_action_says_reconcile_settles_it(accounts_url: str) -> None:
    app = accounts_app(accounts_url, stripe=SilentStripe("stripe"))
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, GRACE)
        dialog = await _dialog(pilot, "p")
        _fill(dialog, "reason", "Travelling for a month")
        await _confirm(pilot)
        assert app.screen is dialog
        text = _flat(app)
        assert "Pending: no answer from stripe (TimeoutError)" in text
        assert "crm-tui reconcile" in text
        assert dialog.query_one("#confirm", Button).disabled  # never asked twice from here
    assert _rows(accounts_url, "SELECT action, status FROM provider_intent") == [
        ("pause", "pending")
    ]
    assert _rows(accounts_url, "SELECT status FROM subscription WHERE id = 1") == [("active",)]


async def test_read_only_refuses_account_actions(accounts_url: str) -> None:
    app = make_app(accounts_url, readonly=True)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await pilot.press("c")
        await pilot.pause(0.2)
        assert app.screen is screen
        assert "Read-only: tester cannot change anything from this session." in _notes(app)


async def test_help_lists_the_account_keys(accounts_url: str) -> None:
    from crm_tui.screens.help import key_rows

    app = accounts_app(accounts_url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _profile(pilot, GRACE)
        rows = {(row.keys, row.description) for row in key_rows(screen)}
    for row in [
        ("y", "Retry failed payment"),
        ("$", "Apply credit"),
        ("p", "Pause subscription"),
        ("u", "Resume subscription"),
        ("c", "Cancel subscription"),
        ("m", "Change plan"),
        ("x", "Extend trial"),
        ("P", "Mark manual payment paid"),
        ("A", "Affiliate and commission"),
    ]:
        assert row in rows


HOSTILE = "[@click=app.quit]x[/] \x1b[2J"


@pytest.mark.parametrize("key", ["y", "dollar_sign", "p", "c", "m", "A"])
async def test_every_dialog_fits_80x24_and_shows_the_name_as_text(
    accounts_url: str, key: str
) -> None:
    engine = create_db_engine(accounts_url)
    with engine.begin() as connection:
        connection.execute(
            sa.update(t.Customer.__table__)  # type: ignore[attr-defined]
            .where(t.Customer.id == GRACE)
            .values(name=HOSTILE)
        )
    engine.dispose()
    app = accounts_app(accounts_url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _profile(pilot, GRACE)
        if key in {"y", "A"}:
            await _select_payment(pilot, screen, "failed")
        dialog = await _dialog(pilot, key)
        await pilot.pause(0.2)
        assert "[@click=app.quit]x[/] ‹U+001B›[2J (#1)" in _flat(app)
        whole = app.screen.region
        for selector in ("#cancel", "#confirm", "#field-reason"):
            region = dialog.query_one(selector).region
            assert region.height and whole.contains_region(region), selector
        assert isinstance(dialog.query_one("#field-reason", FormField).control, TextArea)
        assert not isinstance(dialog.focused, Input)  # single keys typed go nowhere risky


# ---------------------------------------------------------------------- snapshot


def test_cancel_dialog_snapshot(snap_compare: Any, sqlite_accounts_url: str) -> None:
    """The cancel dialog at 80x24: the retention offers first, then when, reason, buttons."""

    async def opened(pilot: Pilot[Any]) -> None:
        await _profile(pilot, GRACE)
        await _dialog(pilot, "c")
        await pilot.pause(0.2)

    app = accounts_app(sqlite_accounts_url)
    assert snap_compare(app, terminal_size=(80, 24), run_before=opened)


# ---------------------------------------------------------------------- escalate


async def test_escalate_with_a_reason_shows_on_the_profile_and_only_once(
    accounts_url: str,
) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _escape_changes_nothing(pilot, accounts_url, "exclamation_mark")
        dialog = await _dialog(pilot, "exclamation_mark")
        assert "Flags the customer for manager review" in _flat(app)
        await _confirm(pilot)  # no reason: refused beside the field
        assert "is required" in _field_error(dialog, "reason")
        assert _rows(accounts_url, "SELECT * FROM escalation") == []
        _fill(dialog, "reason", "Threatens a chargeback over the double charge")
        before = screen.profile
        await _confirm(pilot)
        text = await _done(pilot, before, "1")
        assert "ESCALATED by tester on " in text
        assert "Threatens a chargeback over the double charge" in text
        await pilot.press("exclamation_mark")  # a second one is not opened
        await pilot.pause(0.2)
        assert isinstance(app.screen, ProfileScreen)
        assert "Already escalated by tester" in _notes(app)
    (row,) = _rows(accounts_url, "SELECT status, reason FROM escalation")
    assert tuple(row) == ("open", "Threatens a chargeback over the double charge")


# ----------------------------------------------------------------------- tickets


async def test_open_a_ticket_and_see_it_in_the_history(accounts_url: str) -> None:
    app = accounts_app(accounts_url)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        await _escape_changes_nothing(pilot, accounts_url, "T")
        dialog = await _dialog(pilot, "T")
        _fill(dialog, "subject", "Line one\nline two")  # one line only
        await _confirm(pilot)
        assert "one line" in _flat(app)
        assert _rows(accounts_url, "SELECT * FROM ticket") == []
        _fill(dialog, "subject", "Cannot log in after the password reset")
        before = screen.profile
        await _confirm(pilot)
        await _done(pilot, before, "1")
        shown = app.screen
        assert isinstance(shown, ProfileScreen) and shown.profile is not None
        (ticket,) = shown.profile.tickets  # the overview lists it under Tickets
        assert (ticket.subject, ticket.status, ticket.opened_by) == (
            "Cannot log in after the password reset",
            "open",
            "tester",
        )
    (row,) = _rows(accounts_url, "SELECT subject, status FROM ticket")
    assert tuple(row) == ("Cannot log in after the password reset", "open")
