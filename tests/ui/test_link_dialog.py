"""`l` on the profile: email the customer a link to update their payment method.

Keyboard only, on a real SQLite file, against real peers: localstripe makes the
billing-portal link, the aiosmtpd server (smtp_server) receives the email, and
the PayPal fake stands behind the PayPal customer. Each test asserts on what the
peers received and on the rows stored, not on what the dialog says alone.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from textual.pilot import Pilot
from textual.widgets import Button, Input

from crm_tui.app import CrmApp
from crm_tui.models import tables as t
from crm_tui.screens.link_dialog import PaymentLinkDialog
from crm_tui.screens.profile import ProfileScreen
from crm_tui.services.database import create_db_engine
from crm_tui.services.providers.offline import OfflineProvider
from crm_tui.services.providers.paypal import PayPalProvider
from crm_tui.services.providers.stripe import StripeProvider
from tests.factories import add_customer, add_plan, add_subscription
from tests.support.localstripe_server import LocalStripe
from tests.support.paypal_fake import PayPalFake
from tests.support.smtp_server import SmtpServer
from tests.ui.conftest import busy, make_app, open_profile, screen_text, until, wait_for_profile

GRACE, MANUAL, PAYPAL, NO_EMAIL = 1, 2, 3, 4
RETURN_URL = "https://example.com/account"
HOSTILE = "[@click=app.quit]x[/] \x1b[2J"


@pytest.fixture
def stripe_customer(localstripe: LocalStripe) -> str:
    localstripe.plan("basic", 1000)
    customer = localstripe.customer("Grace Hopper", "grace@navy.example")
    localstripe.subscribe(customer, "basic")
    return customer


@pytest.fixture
def link_url(db_url: str, localstripe: LocalStripe, stripe_customer: str) -> str:
    mute_at_stripe = localstripe.customer("No Mail", "nomail@example.com")
    engine = create_db_engine(db_url)
    with engine.begin() as connection:
        basic = add_plan(connection, "basic", name="Basic", amount_minor=1000)
        # 1: a Stripe customer (the link comes from the Stripe billing portal).
        grace = add_customer(connection, name="Grace Hopper", email="grace@navy.example")
        _external(connection, grace, "stripe", stripe_customer)
        add_subscription(connection, grace, basic, provider_id="sub_GRACE")
        # 2: pays by hand: no provider account.
        manual = add_customer(connection, name="Manu Al", email="manu@example.com")
        add_subscription(connection, manual, basic, provider="manual", provider_id="man_MANU")
        # 3: pays through PayPal.
        paypal = add_customer(connection, name="Pat Pal", email="pat@example.com")
        _external(connection, paypal, "paypal", "PAYER1")
        add_subscription(connection, paypal, basic, provider="paypal", provider_id="I-PAT")
        # 4: a Stripe customer with no email address on file.
        mute = add_customer(connection, name="No Mail", email="")
        _external(connection, mute, "stripe", mute_at_stripe)
    engine.dispose()
    return db_url


def _external(connection: Any, customer: int, provider: str, external: str) -> None:
    table = t.ExternalId.__table__  # type: ignore[attr-defined]
    connection.execute(
        sa.insert(table).values(customer_id=customer, provider=provider, external_id=external)
    )


def link_app(
    url: str,
    localstripe: LocalStripe,
    smtp: SmtpServer | None,
    *,
    paypal: PayPalFake | None = None,
    **settings: Any,
) -> CrmApp:
    """The app with the real Stripe provider at localstripe, mail to `smtp` (None: no
    [smtp] configured) and the portal's return address set."""
    if smtp is not None:
        settings |= {
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_starttls": False,
            "smtp_sender": "support@crm-tui.example",
        }
    app = make_app(url, billing_portal_return_url=RETURN_URL, **settings)
    app._providers = {
        "stripe": StripeProvider(localstripe.api_key, api_base=localstripe.url, timeout=5),
        "manual": OfflineProvider(),
        "paypal": (
            PayPalProvider(paypal.url, paypal.client_id, paypal.client_secret, timeout=5)
            if paypal is not None
            else OfflineProvider("paypal")
        ),
    }
    return app


# ----------------------------------------------------------------------- helpers


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        rows = list(connection.execute(sa.text(sql)))
    engine.dispose()
    return rows


def _snapshot(url: str) -> dict[str, list[Any]]:
    """Everything sending a link could write."""
    tables = ("email_message", "activity_event", "provider_intent", "customer", "subscription")
    return {name: _rows(url, f"SELECT * FROM {name} ORDER BY id") for name in tables}


def _sessions(localstripe: LocalStripe) -> list[Any]:
    """The billing-portal sessions (links) made at Stripe."""
    return localstripe.objects("billing_portal.session")


def _flat(app: Any) -> str:
    """The screen's text as one line, without the borders."""
    lines = (line.strip(" █▀▄▊▎") for line in screen_text(app).splitlines())
    return " ".join(line for line in lines if line)


def _notes(app: Any) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def _profile(pilot: Pilot[Any], customer: int) -> ProfileScreen:
    screen = await open_profile(pilot, customer)
    assert isinstance(screen, ProfileScreen)
    return screen


async def _dialog(pilot: Pilot[Any]) -> PaymentLinkDialog:
    """Press `l` on the profile; the dialog once drawn, its provider looked up."""
    await pilot.press("l")
    for _ in range(200):
        await pilot.pause(0.02)
        screen = pilot.app.screen
        if (
            isinstance(screen, PaymentLinkDialog)
            and screen.held is not None
            and PaymentLinkDialog.TITLE_TEXT in screen_text(pilot.app)
        ):
            await pilot.pause()
            return screen
    raise AssertionError("l opened no dialog")


async def _confirm(pilot: Pilot[Any]) -> None:
    """From Cancel (where focus starts), tab to Send link and press it; wait for the
    outcome (the dialog closed, or its worker done)."""
    dialog = pilot.app.screen
    assert dialog.focused is dialog.query_one("#cancel", Button)
    await pilot.press("tab", "enter")
    await pilot.pause(0.1)
    for _ in range(500):
        if pilot.app.screen is not dialog:
            break
        if not dialog.saving and not busy(dialog):
            break
        await pilot.pause(0.02)
    await pilot.pause()


async def _activity(pilot: Pilot[Any], expected: str) -> str:
    """The Activity tab once it shows `expected`. The profile reads the customer again
    after the dialog — or before it closes: in team mode the change feed may reload it
    underneath the dialog, so "a new read after escape" is not something to wait for."""
    await pilot.press("4")
    await until(pilot, lambda: expected in screen_text(pilot.app), timeout=30)
    assert isinstance(pilot.app.screen, ProfileScreen)
    return screen_text(pilot.app)


# ------------------------------------------------------------------------- sent


async def test_link_reaches_the_customer_by_email_and_shows_in_activity(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer, stripe_customer: str
) -> None:
    app = link_app(link_url, localstripe, smtp_server)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, GRACE)
        dialog = await _dialog(pilot)
        text = _flat(app)
        assert "Customer: Grace Hopper (#1)" in text
        assert "To: grace@navy.example (the customer's email address on file)" in text
        assert f"Link from: the Stripe billing portal, for Stripe customer {stripe_customer}." in (
            text
        )
        assert f"the portal sends them to {RETURN_URL}" in text
        assert dialog.focused is dialog.query_one("#cancel", Button)
        assert not dialog.query("#field-reason")  # nothing to type: only a confirmation
        await _confirm(pilot)
        assert app.screen is not dialog
        assert "Sent a payment-method link to grace@navy.example" in _notes(app)
        await _activity(pilot, "Emailed 'Update your payment method' to grace@navy.example")

    # What the customer's mail server received: one message, the portal link in it.
    [session] = _sessions(localstripe)
    assert (session.customer, session.return_url) == (stripe_customer, RETURN_URL)
    [message] = smtp_server.messages
    assert message["To"] == "grace@navy.example"
    assert message["Subject"] == "Update your payment method"
    assert session.url in message.get_content()
    assert smtp_server.envelopes == [("support@crm-tui.example", ["grace@navy.example"])]
    assert _rows(
        link_url, "SELECT customer_id, to_address, status, template FROM email_message"
    ) == [(GRACE, "grace@navy.example", "sent", "payment_method_link")]
    [(summary,)] = _rows(link_url, "SELECT summary FROM activity_event WHERE customer_id = 1")
    assert summary == "Emailed 'Update your payment method' to grace@navy.example"


# ---------------------------------------------------------------------- cancel


async def test_escape_or_cancel_sends_nothing_and_writes_nothing(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    app = link_app(link_url, localstripe, smtp_server)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        before = _snapshot(link_url)
        for close in ("escape", "enter"):  # enter: on Cancel, where focus starts
            dialog = await _dialog(pilot)
            assert dialog.focused is dialog.query_one("#cancel", Button)
            await pilot.press(close)
            await pilot.pause(0.2)
            assert app.screen is screen
        await wait_for_profile(pilot, previous=None)
    assert _snapshot(link_url) == before
    assert smtp_server.messages == []
    assert _sessions(localstripe) == []


# ------------------------------------------------------------ provider refuses


async def test_a_customer_who_pays_by_hand_gets_no_link(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    app = link_app(link_url, localstripe, smtp_server)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, MANUAL)
        before = _snapshot(link_url)
        dialog = await _dialog(pilot)
        assert "Link from: manual (the customer has no Stripe account)." in _flat(app)
        await _confirm(pilot)
        assert app.screen is dialog  # the dialog stays, with the refusal
        text = _flat(app)
        assert "No link sent (manual): this customer pays by hand" in text
        assert "there is no payment-method link to send" in text
        assert "Nothing was emailed." in text
    assert _snapshot(link_url) == before
    assert smtp_server.messages == []
    assert _sessions(localstripe) == []


async def test_a_paypal_customer_gets_no_link(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer, paypal_fake: PayPalFake
) -> None:
    app = link_app(link_url, localstripe, smtp_server, paypal=paypal_fake)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, PAYPAL)
        before = _snapshot(link_url)
        dialog = await _dialog(pilot)
        await _confirm(pilot)
        assert app.screen is dialog
        text = _flat(app)
        assert "No link sent (paypal)" in text  # PayPal's own sentence, not "pays by hand"
        assert "in their own PayPal account" in text
        assert "Nothing was emailed." in text
    assert _snapshot(link_url) == before
    assert smtp_server.messages == []
    assert _sessions(localstripe) == []


# ------------------------------------------------------------- email not set up


async def test_without_smtp_it_says_email_is_not_set_up_and_writes_nothing(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    app = link_app(link_url, localstripe, None)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, GRACE)
        before = _snapshot(link_url)
        dialog = await _dialog(pilot)
        await _confirm(pilot)
        assert app.screen is dialog
        text = _flat(app)
        assert "Email is not set up: set host and sender in the [smtp] table" in text
        assert "Nothing was sent." in text
    assert _snapshot(link_url) == before
    assert smtp_server.messages == []
    assert _sessions(localstripe) == []  # Stripe was not asked for a link it could not send


async def test_a_mail_server_refusal_is_said_and_recorded_as_failed(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse_recipient = "550 5.1.1 mailbox unavailable"
    app = link_app(link_url, localstripe, smtp_server)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, GRACE)
        dialog = await _dialog(pilot)
        await _confirm(pilot)
        assert app.screen is dialog
        text = _flat(app)
        assert "Not sent: the mail server refused the recipient grace@navy.example" in text
        assert "The failed attempt is in Activity" in text
        await pilot.press("escape")
        await _activity(pilot, "Email 'Update your payment method' to grace@navy.example failed")
    assert smtp_server.messages == []
    assert _rows(link_url, "SELECT status FROM email_message") == [("failed",)]


async def test_a_customer_without_an_email_address_is_refused(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    app = link_app(link_url, localstripe, smtp_server)
    async with app.run_test(size=(160, 40)) as pilot:
        await _profile(pilot, NO_EMAIL)
        before = _snapshot(link_url)
        dialog = await _dialog(pilot)
        assert "To: nobody: the customer has no email address on file" in _flat(app)
        await _confirm(pilot)
        assert app.screen is dialog
        assert f"Not done: customer #{NO_EMAIL} has no email address." in _flat(app)
    assert _snapshot(link_url) == before
    assert smtp_server.messages == []


# -------------------------------------------------------------------- read-only


async def test_read_only_refuses_the_link(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    app = link_app(link_url, localstripe, smtp_server, readonly=True)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _profile(pilot, GRACE)
        before = _snapshot(link_url)
        await pilot.press("l")
        await pilot.pause(0.2)
        assert app.screen is screen
        assert "Read-only: tester cannot change anything from this session." in _notes(app)
    assert _snapshot(link_url) == before
    assert smtp_server.messages == []
    assert _sessions(localstripe) == []


# ------------------------------------------------------------- keys and text


async def test_help_lists_the_link_key(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    from crm_tui.screens.help import key_rows

    app = link_app(link_url, localstripe, smtp_server)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _profile(pilot, GRACE)
        rows = {(row.keys, row.description) for row in key_rows(screen)}
    assert ("l", "Send payment-method link") in rows


async def test_the_dialog_fits_80x24_and_shows_customer_values_as_text(
    link_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    engine = create_db_engine(link_url)
    with engine.begin() as connection:
        connection.execute(
            sa.update(t.Customer.__table__)  # type: ignore[attr-defined]
            .where(t.Customer.id == GRACE)
            .values(name=HOSTILE)
        )
    engine.dispose()
    app = link_app(link_url, localstripe, smtp_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await _profile(pilot, GRACE)
        dialog = await _dialog(pilot)
        assert app.screen is dialog  # the [@click=app.quit] in the name did nothing
        assert "[@click=app.quit]x[/] ‹U+001B›[2J (#1)" in _flat(app)
        whole = app.screen.region
        for selector in ("#action-statement", "#cancel", "#confirm"):
            region = dialog.query_one(selector).region
            assert region.height and whole.contains_region(region), selector
        assert not isinstance(dialog.focused, Input)
