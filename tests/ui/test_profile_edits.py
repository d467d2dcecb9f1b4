"""Editing from the profile, keyboard only: success, invalid input, a concurrent change."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from textual.pilot import Pilot
from textual.widgets import Input, Select, TextArea

from crm_tui.screens.details_form import NewCustomerForm
from crm_tui.screens.form import FormField, FormScreen
from crm_tui.screens.profile import ProfileScreen
from crm_tui.services.actor import Actor
from crm_tui.services.agents import register_agent
from crm_tui.services.customer_edit import AddressInput, CustomerDetails, CustomerEditService
from crm_tui.services.database import create_db_engine
from crm_tui.services.demo_seed import SHOWCASE
from tests.ui.conftest import make_app, open_profile, screen_text, wait_for_profile, wait_for_rows

LOYAL = SHOWCASE["loyal_upgrader"]
PARTIAL = SHOWCASE["partial_refund"]


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        rows = list(connection.execute(sa.text(sql)))
    engine.dispose()
    return rows


async def _type(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*[("space" if c == " " else c) for c in text])


def _field(app: Any, key: str) -> Any:
    return app.screen.query_one(f"#field-{key}", FormField)


async def _open_form(pilot: Pilot[Any], key: str) -> FormScreen[Any]:
    await pilot.press(key)
    for _ in range(100):
        await pilot.pause(0.02)
        if isinstance(pilot.app.screen, FormScreen):
            return pilot.app.screen
    raise AssertionError(f"{key} opened no form")


async def _save(pilot: Pilot[Any]) -> None:
    await pilot.press("ctrl+s")
    for _ in range(200):
        await pilot.pause(0.02)
        screen = pilot.app.screen
        if not isinstance(screen, FormScreen) or not screen.saving:
            return


# ------------------------------------------------------------------------ notes


async def test_add_a_note(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_profile(pilot, PARTIAL)
        before = screen.profile
        await _open_form(pilot, "n")
        await _type(pilot, "Called about the invoice")
        await pilot.press("tab")
        await _type(pilot, "Will pay on Friday")
        await _save(pilot)
        screen = await wait_for_profile(pilot, previous=before)
        await pilot.press("5")
        assert "Called about the invoice" in screen_text(app)
        assert screen.profile.activity[0].summary == "Added a phone note: Called about the invoice"
        assert screen.profile.activity[0].actor == "tester"


async def test_a_note_without_summary_is_refused_and_nothing_is_written(demo_url: str) -> None:
    notes_before = _rows(demo_url, "SELECT * FROM note ORDER BY id")
    app = make_app(demo_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_profile(pilot, PARTIAL)
        form = await _open_form(pilot, "n")
        await pilot.press("tab", "tab")  # to the follow-up date
        await _type(pilot, "2020-01-01")
        await _save(pilot)
        assert app.screen is form
        text = screen_text(app)
        assert "Nothing was saved: 2 fields need attention." in text
        assert "✗ summary: is required" not in text and "✗ is required" in text
        assert "in the past" in text
        assert form.focused is _field(app, "summary").control
    assert _rows(demo_url, "SELECT * FROM note ORDER BY id") == notes_before


# ---------------------------------------------------------------------- details


async def test_edit_the_email_with_a_bad_then_a_good_value(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_profile(pilot, LOYAL)
        before = screen.profile
        form = await _open_form(pilot, "e")
        email: Input = _field(app, "email").control
        email.value = "zoe at example"
        await _save(pilot)
        assert app.screen is form
        assert "✗ contains a space" in screen_text(app)
        assert _rows(demo_url, "SELECT email, version FROM customer WHERE id = 1") == [
            ("zoe.hartmann@example.com", before.version)
        ]
        email.value = "zoe@hartmann.example"
        await _save(pilot)
        screen = await wait_for_profile(pilot, previous=before)
        assert screen.profile.email == "zoe@hartmann.example"
        assert screen.profile.version == before.version + 1
        assert "Email             zoe@hartmann.example" in screen_text(app)
        assert screen.profile.activity[0].summary == "Changed email"


async def test_switching_to_business_needs_a_company(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_profile(pilot, LOYAL)
        before = screen.profile
        form = await _open_form(pilot, "e")
        kind: Select[str] = _field(app, "kind").control
        kind.value = "business"
        await pilot.pause()
        assert _field(app, "company_name").display
        await _save(pilot)
        assert app.screen is form and "✗ company: is required" not in screen_text(app)
        assert "is required" in screen_text(app)
        _field(app, "company_name").control.value = "Hartmann Home Office"
        _field(app, "vat_id").control.value = "DE 123 456 789"
        await _save(pilot)
        screen = await wait_for_profile(pilot, previous=before)
        assert (screen.profile.kind, screen.profile.vat_id) == ("business", "DE123456789")


async def test_a_concurrent_change_is_refused_and_nothing_is_lost(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_profile(pilot, LOYAL)
        form = await _open_form(pilot, "e")
        _field(app, "phone").control.value = "+1 212 555 0199"

        # Meanwhile another agent saves a new email for the same customer.
        engine = create_db_engine(demo_url)
        other = register_agent(engine, Actor.agent("mlopez", display_name="Maria Lopez"))
        profile = screen.profile
        details = CustomerDetails(**{**_details(profile), "email": "zoe@new.example"})
        CustomerEditService(engine).update_details(profile.id, profile.version, details, other)
        engine.dispose()

        await _save(pilot)
        assert app.screen is form  # still open, with what the agent typed
        text = screen_text(app)
        assert "changed by Maria Lopez at" in text and "reload" in text
        assert _field(app, "phone").control.value == "+1 212 555 0199"
    stored = _rows(demo_url, "SELECT email, phone FROM customer WHERE id = 1")
    assert stored == [("zoe@new.example", "+12125550147")]  # the first save is kept


def _details(profile: Any) -> dict[str, Any]:
    keys = CustomerDetails.__dataclass_fields__
    return {key: getattr(profile, key) for key in keys}


# ---------------------------------------------------------------- account state


async def test_block_with_a_reason(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_profile(pilot, PARTIAL)
        before = screen.profile
        form = await _open_form(pilot, "b")
        _field(app, "state").control.value = "blocked"
        await _save(pilot)  # no reason
        assert app.screen is form and "is required" in screen_text(app)
        reason: TextArea = _field(app, "reason").control
        reason.text = "Card testing from many countries"
        await _save(pilot)
        screen = await wait_for_profile(pilot, previous=before)
        assert "José García · #4 · BLOCKED" in screen_text(app)
        change = screen.profile.status_history[0]
        assert (change.to_state, change.reason, change.by) == (
            "blocked",
            "Card testing from many countries",
            "tester",
        )


# ------------------------------------------------------------------------- tags


async def test_add_and_remove_a_tag(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_profile(pilot, PARTIAL)
        before = screen.profile
        await pilot.press("t")
        await pilot.pause(0.2)
        await _type(pilot, "Priority")
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert "Tagged priority." in screen_text(app)
        app.screen.query_one(Input).value = "bad\x1b[31m"  # a control character
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert "Not saved:" in screen_text(app) and "U+001B" in screen_text(app)
        await pilot.press("tab")  # to the list: "priority" is its only tag
        await pilot.press("delete")
        await pilot.pause(0.3)
        assert "Removed priority." in screen_text(app)
        await pilot.press("escape")
        screen = await wait_for_profile(pilot, previous=before)
        summaries = [event.summary for event in screen.profile.activity[:2]]
        assert summaries == ["Removed the tag priority", "Tagged priority"]
        assert screen.profile.tags == ()


# -------------------------------------------------------------------- addresses


async def test_edit_an_address_keeps_the_old_one_as_history(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = await open_profile(pilot, PARTIAL)
        before = screen.profile
        old = next(a for a in before.addresses if a.current)
        await pilot.press("a")
        await pilot.pause(0.2)
        await pilot.press("enter")  # edit the highlighted (only) address
        await pilot.pause(0.2)
        form = app.screen
        assert isinstance(form, FormScreen)
        _field(app, "line1").control.value = "Calle Mayor 1"
        _field(app, "city").control.value = ""
        await _save(pilot)
        assert app.screen is form and "is required" in screen_text(app)
        _field(app, "city").control.value = "Madrid"
        await _save(pilot)
        screen = await wait_for_profile(pilot, previous=before)
        current = [a for a in screen.profile.addresses if a.current]
        earlier = [a for a in screen.profile.addresses if not a.current]
        assert [(a.line1, a.is_default) for a in current] == [("Calle Mayor 1", True)]
        assert old.id in {a.id for a in earlier}
        assert "Earlier billing" in screen_text(app)


# ----------------------------------------------------------------- new customer


async def test_new_customer_shows_duplicates_first(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("N")
        await pilot.pause(0.3)
        form = app.screen
        assert isinstance(form, NewCustomerForm)
        _field(app, "name").control.value = "Jose Garcia"
        _field(app, "email").control.value = "JOSE.GARCIA@example.net"
        _field(app, "country").control.value = "Spain"
        _field(app, "phone").control.value = "612 345 679"
        await _save(pilot)
        assert app.screen is form
        text = screen_text(app)
        assert "Possible duplicates" in text and "#4 José García" in text
        assert "same email" in text
        assert _rows(demo_url, "SELECT count(*) FROM customer WHERE name = 'Jose Garcia'") == [(0,)]
        await _save(pilot)  # create anyway
        screen = await wait_for_profile(pilot)
        assert isinstance(screen, ProfileScreen)
        assert (screen.profile.name, screen.profile.phone) == ("Jose Garcia", "+34612345679")
        assert screen.profile.activity[0].summary == "Created the individual customer Jose Garcia"


async def test_new_customer_with_bad_input_writes_nothing(demo_url: str) -> None:
    count = _rows(demo_url, "SELECT count(*) FROM customer")
    app = make_app(demo_url)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("N")
        await pilot.pause(0.3)
        _field(app, "name").control.value = "[@click=app.quit]x[/]"
        _field(app, "email").control.value = "nobody"
        await _save(pilot)
        assert isinstance(app.screen, NewCustomerForm)
        assert "is not an email address" in screen_text(app)
    assert _rows(demo_url, "SELECT count(*) FROM customer") == count


async def test_a_concurrent_change_refuses_the_block_too(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_profile(pilot, PARTIAL)
        form = await _open_form(pilot, "b")
        _field(app, "state").control.value = "blocked"
        _field(app, "reason").control.text = "Suspected card testing"

        engine = create_db_engine(demo_url)
        other = register_agent(engine, Actor.agent("mlopez", display_name="Maria Lopez"))
        profile = screen.profile
        CustomerEditService(engine).add_address(
            profile.id,
            profile.version,
            AddressInput(line1="Gran Vía 2", city="Madrid", country="ES"),
            other,
        )
        engine.dispose()

        await _save(pilot)
        assert app.screen is form
        assert "changed by Maria Lopez at" in screen_text(app)
        assert _field(app, "reason").control.text == "Suspected card testing"
    assert _rows(demo_url, "SELECT account_state FROM customer WHERE id = 4") == [("active",)]
    assert _rows(demo_url, "SELECT count(*) FROM account_state_change WHERE customer_id = 4") == [
        (0,)
    ]
