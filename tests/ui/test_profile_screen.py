"""The profile screen on the demo's showcase customers: what each tab shows, and its keys."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from crm_tui.cli import main
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.screens.invoice_dialog import InvoiceDialog
from crm_tui.screens.profile import ProfileScreen
from crm_tui.services.actor import Actor, os_login
from crm_tui.services.database import create_db_engine
from crm_tui.services.demo_seed import SHOWCASE
from crm_tui.services.profile import ProfileService
from crm_tui.widgets.record_list import RecordList
from tests.ui.conftest import (
    make_app,
    open_profile,
    screen_text,
    wait_for_profile,
    wait_for_rows,
)

LOYAL, BUSINESS, BLOCKED, PARTIAL = (
    SHOWCASE["loyal_upgrader"],
    SHOWCASE["business_account"],
    SHOWCASE["blocked_account"],
    SHOWCASE["partial_refund"],
)


async def test_overview_shows_the_lifetime_value_worked_example(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = await open_profile(pilot, LOYAL)
        text = screen_text(app)
        assert "Zoë Hartmann · #1" in text
        assert "Lifetime value    $2,142.00" in text  # 12 × $89 + 6 × $129 + $300
        assert "Tags              vip" in text
        assert "Current plan      Premium" in text
        assert screen.profile.money.lifetime_value_minor == 214_200


async def test_business_customer_overview_subscriptions_and_invoice(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = await open_profile(pilot, BUSINESS)
        text = screen_text(app)
        for expected in (
            "Customer          #2 · business",
            "Company           Nordlicht Analytics GmbH",
            "Registration no.  HRB 204519 B",
            "VAT id            DE287456913",
            "Payment terms     Net 30",
            "Billing group     Enterprise",
            "Billing contact   Jonas Weber <ap@nordlicht-analytics.example>",
        ):
            assert expected in text
        assert "Outstanding       €0.00" not in text  # the newest invoice is open

        await pilot.press("2")
        text = screen_text(app)
        assert "Team Bundle (25 seats) · active" in text
        assert "Cost recovery" in text  # the Home Hub is hardware with an asset cost

        await pilot.press("3")
        payments = screen.query_one("#payments-list", RecordList)
        assert screen.focused is payments
        assert "INV-" in screen_text(app)
        invoiced = next(i for i, r in enumerate(payments.records) if r.cells[-1] != "—")
        payments.move(invoiced - payments.cursor)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, InvoiceDialog)
        assert "Invoice INV-" in screen_text(app) and "Total" in screen_text(app)
        assert "Team Bundle, one quarter (25 seats)" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is screen


async def test_blocked_customer_shows_the_status_history(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(120, 70)) as pilot:
        screen = await open_profile(pilot, BLOCKED)
        text = screen_text(app)
        assert "Darius Kowalski · #3 · BLOCKED" in text
        assert "Account state     blocked" in text
        assert "Status history" in text
        history = screen.profile.status_history
        assert [(c.from_state, c.to_state) for c in history] == [
            ("active", "blocked"),
            ("deactivated", "active"),
            ("active", "deactivated"),
        ]
        assert "active → blocked" in text and "Chargeback fraud suspected" in text
        assert "Customer asked to close the account" in text
        assert all(change.by and change.by != "system" for change in history)
        assert history[0].by in text


async def test_partial_refund_is_shown_under_its_payment_and_filtered(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_profile(pilot, PARTIAL)
        await pilot.press("3")
        text = screen_text(app)
        assert "partially refunded" in text
        assert "↳ refund €59.50" in text and "Service outage credit: 15 days" in text
        payments = screen.query_one("#payments-list", RecordList)
        total = len(payments.records)
        await pilot.press("f")  # succeeded
        assert screen.payment_filter == "succeeded"
        assert len(payments.records) == total - 1
        assert "Payments: 4 of 5 · filter: succeeded" in screen_text(app)
        for _ in range(3):  # failed, refunded, partially refunded
            await pilot.press("f")
        assert screen.payment_filter == "partially_refunded"
        assert [r.cells[2] for r in payments.records] == ["partially refunded"]


@pytest.mark.parametrize("customer", [LOYAL, PARTIAL])
async def test_activity_has_all_three_kinds_of_actor(demo_url: str, customer: int) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_profile(pilot, customer)
        await pilot.press("4")
        activity = screen.query_one("#activity-list", RecordList)
        assert screen.focused is activity
        actors = {event.actor_type: event.actor for event in screen.profile.activity}
        assert set(actors) == {"agent", "system", "customer"}
        text = screen_text(app)
        assert "customer (self-service)" in text and "system" in text
        assert actors["agent"] in text  # the agent's name, not their login
        dates = [event.occurred_at for event in screen.profile.activity]
        assert dates == sorted(dates, reverse=True)

        await pilot.press("f", "f")  # all → subscription → payment
        assert screen.activity_filter == "payment"
        assert {r.cells[1] for r in activity.records} == {"payment"}

        first = activity.records[0]
        assert first.expands
        await pilot.press("enter")
        assert first.key in activity.expanded
        assert first.details()[0] in screen_text(app)
        await pilot.press("enter")
        assert first.key not in activity.expanded


async def test_notes_tab_shows_notes_and_tags(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_profile(pilot, BUSINESS)
        await pilot.press("5")
        text = screen_text(app)
        assert "Quarterly business review" in text and "meeting" in text
        note = screen.profile.notes[0]
        assert note.follow_up_on is not None and note.follow_up_on.isoformat() in text


async def test_tab_keys_and_escape_back_to_the_same_directory(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_rows(pilot)
        directory = app.directory
        directory.search_input.value = "a"
        await wait_for_rows(pilot)
        await pilot.press("s", "j", "j")
        await wait_for_rows(pilot)
        chosen = directory.table.current_row
        await pilot.press("enter")
        screen = await wait_for_profile(pilot)
        assert screen.profile.id == chosen.id
        tabs = []
        for key in ("2", "3", "4", "5", "1", "[", "[", "]"):
            await pilot.press(key)
            tabs.append(screen.active_tab)
        assert tabs == [
            "subscriptions",
            "payments",
            "activity",
            "notes",
            "overview",
            "notes",
            "activity",
            "notes",
        ]
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)
        assert directory.search_input.value == "a"
        assert directory.directory_query.sort.column == "email"
        assert directory.table.current_row == chosen


async def test_cli_show_returns_what_the_screen_shows(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(demo_url, login=os_login())  # the command runs as the OS login too
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_profile(pilot, PARTIAL)
        shown = screen.profile.as_json()
    assert main(["customers", "show", str(PARTIAL), "--database-url", demo_url]) == 0
    printed: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(shown))
    assert printed["lifetime_value_minor"] == shown["money"]["lifetime_value_minor"]
    assert [p["refunded_minor"] for p in printed["payments"]].count(5950) == 1


async def test_a_missing_customer_says_so(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        app.open_customer(987654)
        await pilot.pause(0.5)
        assert isinstance(app.screen, ProfileScreen)
        assert "There is no customer #987654." in screen_text(app)


def test_profile_service_reads_the_same_as_the_json(demo_url: str) -> None:
    engine = create_db_engine(demo_url)
    profile = ProfileService(engine).profile(LOYAL, Actor.system())
    with engine.connect() as connection:
        ltv = connection.execute(sa.text("SELECT ltv_minor FROM customer WHERE id = 1")).scalar()
    engine.dispose()
    assert profile.ltv_minor == ltv == profile.money.lifetime_value_minor == 214_200


async def test_z_shows_times_in_the_agents_zone_the_customers_and_utc(demo_url: str) -> None:
    engine = create_db_engine(demo_url)
    with engine.begin() as connection:  # a customer far from the agent
        connection.execute(
            sa.text("UPDATE customer SET timezone = 'Asia/Tokyo' WHERE id = :id"), {"id": LOYAL}
        )
    engine.dispose()
    app = make_app(demo_url, timezone="America/New_York")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_profile(pilot, LOYAL)
        await pilot.press("4")
        activity = screen.query_one("#activity-list", RecordList)
        newest = screen.profile.activity[0].occurred_at.astimezone(UTC)
        shown = {}
        for zone in ("America/New_York", "customer's Asia/Tokyo", "UTC"):
            assert f"times: {zone} (z)" in screen_text(app)
            shown[zone] = activity.records[0].cells[0]
            await pilot.press("z")
            await pilot.pause()
        assert "times: America/New_York (z)" in screen_text(app)  # round again
    assert shown["UTC"] == f"{newest:%Y-%m-%d %H:%M}"
    for zone, name in (
        ("America/New_York", "America/New_York"),
        ("customer's Asia/Tokyo", "Asia/Tokyo"),
    ):
        assert shown[zone] == f"{newest.astimezone(ZoneInfo(name)):%Y-%m-%d %H:%M}"
    assert len(set(shown.values())) == 3


async def test_the_zone_chosen_stays_for_the_next_profile(demo_url: str) -> None:
    app = make_app(demo_url, timezone="Europe/Berlin")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_profile(pilot, LOYAL)
        await pilot.press("z", "z")  # → the customer's → UTC
        await pilot.press("escape")
        await open_profile(pilot, BUSINESS)
        text = screen_text(app)
        assert "Last change" in text and " UTC by " in text


async def test_help_lists_each_action_of_the_profile_once(demo_url: str) -> None:
    from crm_tui.screens.help import key_rows

    app = make_app(demo_url)
    async with app.run_test(size=(80, 24)) as pilot:
        for tab in ("1", "4"):  # a scrolled text, then a list
            screen = await open_profile(pilot, LOYAL) if tab == "1" else app.screen
            await pilot.press(tab)
            rows = key_rows(screen)
            keys = [(row.group, row.keys) for row in rows]
            assert len(keys) == len(set(keys)), keys
            assert "KeyScroll" not in {row.group for row in rows}
