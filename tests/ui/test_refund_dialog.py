"""Refunding from the profile, keyboard only, with the offline provider of the demo."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from textual.widgets import Button

from crm_tui.screens.form import FormField
from crm_tui.screens.refund_dialog import RefundDialog
from crm_tui.services.database import create_db_engine
from crm_tui.services.demo_seed import SHOWCASE
from crm_tui.widgets.record_list import RecordList
from tests.ui.conftest import make_app, open_profile, screen_text, wait_for_profile

PARTIAL = SHOWCASE["partial_refund"]  # PayPal payments of €119.00
LOYAL = SHOWCASE["loyal_upgrader"]  # Stripe payments


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        rows = list(connection.execute(sa.text(sql)))
    engine.dispose()
    return rows


async def _open_refund(pilot: Any, customer: int) -> tuple[Any, RefundDialog]:
    screen = await open_profile(pilot, customer)
    await pilot.press("3")
    payments = screen.query_one("#payments-list", RecordList)
    first_succeeded = next(i for i, r in enumerate(payments.records) if r.cells[2] == "succeeded")
    payments.move(first_succeeded - payments.cursor)
    await pilot.press("r")
    await pilot.pause(0.3)
    dialog = pilot.app.screen
    assert isinstance(dialog, RefundDialog)
    return screen, dialog


async def test_refund_part_of_a_payment(demo_url: str) -> None:
    app = make_app(demo_url, demo=True)
    async with app.run_test(size=(100, 40)) as pilot:
        screen, dialog = await _open_refund(pilot, PARTIAL)
        text = screen_text(app)
        assert "Customer: José García (#4)" in text
        assert "Payment: €119.00 on" in text and "paypal" in text
        assert "At most €119.00 can be refunded." in text
        assert dialog.focused is dialog.query_one("#cancel", Button)  # focus starts on Cancel

        dialog.query_one("#field-amount", FormField).control.value = "20"
        dialog.query_one("#field-reason", FormField).control.text = "Late delivery goodwill"
        before = screen.profile
        await pilot.press("tab", "enter")  # Cancel → Refund
        screen = await wait_for_profile(pilot, previous=before)
        assert "↳ refund €20.00" in screen_text(app)
        assert screen.profile.activity[0].summary == (
            "Refunded €20.00 of €119.00: Late delivery goodwill"
        )
    intents = _rows(demo_url, "SELECT status FROM provider_intent")
    assert intents == [("succeeded",)]


async def test_cancel_is_the_default(demo_url: str) -> None:
    app = make_app(demo_url, demo=True)
    async with app.run_test(size=(100, 40)) as pilot:
        await _open_refund(pilot, PARTIAL)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, RefundDialog)
    assert _rows(
        demo_url,
        "SELECT count(*) FROM refund WHERE payment_id IN "
        "(SELECT id FROM payment WHERE customer_id = 4)",
    ) == [(1,)]


async def test_an_over_refund_is_refused_beside_the_amount(demo_url: str) -> None:
    app = make_app(demo_url, demo=True)
    async with app.run_test(size=(100, 40)) as pilot:
        _, dialog = await _open_refund(pilot, PARTIAL)
        dialog.query_one("#field-amount", FormField).control.value = "500"
        dialog.query_one("#field-reason", FormField).control.text = "Too much"
        await pilot.press("tab", "enter")
        await pilot.pause(0.5)
        assert app.screen is dialog
        assert "at most €119.00 can be refunded" in screen_text(app)
    assert _rows(demo_url, "SELECT count(*) FROM provider_intent") == [(0,)]


async def test_an_unconfigured_provider_refuses_and_nothing_moves(demo_url: str) -> None:
    app = make_app(demo_url)  # not the demo: Stripe has no client here
    async with app.run_test(size=(100, 40)) as pilot:
        _, dialog = await _open_refund(pilot, LOYAL)
        dialog.query_one("#field-reason", FormField).control.text = "Goodwill gesture"
        await pilot.press("tab", "enter")
        await pilot.pause(0.5)
        assert app.screen is dialog
        text = screen_text(app)
        assert "Refused by stripe: Stripe is not configured" in text
        assert "Nothing was refunded." in text
    assert _rows(demo_url, "SELECT status FROM provider_intent") == [("failed",)]
    assert _rows(
        demo_url,
        "SELECT count(*) FROM refund r JOIN payment p ON p.id = r.payment_id "
        "WHERE p.customer_id = 1",
    ) == [(0,)]


async def test_a_yen_amount_is_refunded_as_typed(demo_url: str) -> None:
    # Yen have no minor unit: "1500" is ¥1,500 — not ¥150,000 as cents would make it.
    engine = create_db_engine(demo_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE payment SET currency = 'JPY' WHERE customer_id = :id"), {"id": PARTIAL}
        )
    engine.dispose()
    app = make_app(demo_url, demo=True)
    async with app.run_test(size=(100, 40)) as pilot:
        screen, dialog = await _open_refund(pilot, PARTIAL)
        assert "At most ¥11,900 can be refunded." in screen_text(app)
        dialog.query_one("#field-amount", FormField).control.value = "1500.5"
        dialog.query_one("#field-reason", FormField).control.text = "Late delivery goodwill"
        await pilot.press("tab", "enter")
        await pilot.pause(0.5)
        assert "JPY has no decimals" in screen_text(app)
        dialog.query_one("#field-amount", FormField).control.value = "1500"
        before = screen.profile
        dialog.set_focus(dialog.query_one("#refund", Button))
        await pilot.press("enter")
        screen = await wait_for_profile(pilot, previous=before)
        assert screen.profile.activity[0].summary.startswith("Refunded ¥1,500 of ¥11,900")
