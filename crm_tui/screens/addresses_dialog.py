"""`a` on the profile: the current addresses; add one, edit one, choose the default.

Editing keeps the earlier version as history (the service closes it and adds the
new one). Each change states the customer's version: a concurrent edit is refused.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from crm_tui.models.profile import AddressDetail, CustomerProfile
from crm_tui.screens.form import FormField, FormScreen, choice, text_input
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import (
    AddressInput,
    CustomerEditService,
    InvalidInput,
    StaleEdit,
)
from crm_tui.services.validation import NAME_MAX
from crm_tui.text import safe_text

KIND_OPTIONS = [("Billing", "billing"), ("Shipping", "shipping")]
YES_NO = [("No", "no"), ("Yes", "yes")]


class AddressForm(FormScreen[int]):
    """Add (address None) or edit an address; dismisses with the new version, or None."""

    def __init__(
        self,
        service: CustomerEditService,
        actor: Actor,
        profile: CustomerProfile,
        address: AddressDetail | None,
    ) -> None:
        super().__init__()
        self.service, self.actor, self.profile, self.address = service, actor, profile, address
        self.TITLE_TEXT = "Edit the address" if address else "Add an address"

    def fields(self) -> ComposeResult:
        a = self.address
        yield FormField("kind", "Kind", choice(KIND_OPTIONS, a.kind if a else "billing"))
        yield FormField("line1", "Street", text_input(a.line1 if a else "", max_length=NAME_MAX))
        yield FormField(
            "line2", "Second line", text_input(a.line2 if a else "", max_length=NAME_MAX)
        )
        yield FormField("city", "City", text_input(a.city if a else "", max_length=NAME_MAX))
        yield FormField(
            "postal_code", "Postal code", text_input(a.postal_code if a else "", max_length=20)
        )
        yield FormField(
            "state", "State / region", text_input(a.state if a else "", max_length=NAME_MAX)
        )
        yield FormField(
            "country",
            "Country",
            text_input(a.country if a else self.profile.country, max_length=100),
        )
        default = "yes" if a is not None and a.is_default else "no"
        yield FormField("make_default", "Default billing address", choice(YES_NO, default))

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#field-line1", FormField).control)

    def save(self) -> None:
        address = AddressInput(
            kind=self.value("kind"),
            line1=self.value("line1"),
            line2=self.value("line2"),
            city=self.value("city"),
            state=self.value("state"),
            postal_code=self.value("postal_code"),
            country=self.value("country"),
            make_default=self.value("make_default") == "yes",
        )
        profile, old = self.profile, self.address
        if old is None:
            call = lambda: self.service.add_address(  # noqa: E731
                profile.id, profile.version, address, self.actor
            )
        else:
            call = lambda: self.service.replace_address(  # noqa: E731
                profile.id, profile.version, old.id, address, self.actor
            )
        self.run_save(call, self.dismiss)


class AddressesDialog(ModalScreen[bool]):
    """Dismisses with True when an address changed (the profile reloads)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("n,plus", "add", "Add"),
        Binding("d", "make_default", "Make default"),
    ]
    DEFAULT_CSS = """
    AddressesDialog { align: center middle; }
    AddressesDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    AddressesDialog OptionList { height: auto; max-height: 12; }
    AddressesDialog #addresses-message { height: auto; color: $error; }
    AddressesDialog #addresses-keys { color: $text-muted; }
    """

    def __init__(
        self, service: CustomerEditService, actor: Actor, profile: CustomerProfile
    ) -> None:
        super().__init__()
        self.service, self.actor, self.profile = service, actor, profile
        self.current = [a for a in profile.addresses if a.current]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Addresses", style="bold"))
            yield OptionList(
                *[Option(Text(self._label(a)), id=str(a.id)) for a in self.current],
                id="address-list",
            )
            yield Static("" if self.current else "No addresses yet.", id="addresses-message")
            yield Static(
                Text("n add · enter edit · d make default billing · escape close"),
                id="addresses-keys",
            )

    @staticmethod
    def _label(address: AddressDetail) -> str:
        default = " (default)" if address.is_default else ""
        return safe_text(f"{address.kind}{default}: {address.one_line()}")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#address-list", OptionList))

    def _selected(self) -> AddressDetail | None:
        highlighted = self.query_one("#address-list", OptionList).highlighted
        return self.current[highlighted] if highlighted is not None and self.current else None

    def action_add(self) -> None:
        self.app.push_screen(AddressForm(self.service, self.actor, self.profile, None), self._done)

    @on(OptionList.OptionSelected, "#address-list")
    def action_edit(self) -> None:
        """`enter` on an address (OptionList's own binding): edit it."""
        address = self._selected()
        if address is not None:
            form = AddressForm(self.service, self.actor, self.profile, address)
            self.app.push_screen(form, self._done)

    def _done(self, version: int | None) -> None:
        if version is not None:
            self.dismiss(True)

    def action_make_default(self) -> None:
        address = self._selected()
        if address is not None:
            self._make_default(address.id)

    @work(thread=True, exclusive=True, group="addresses", exit_on_error=False)
    def _make_default(self, address_id: int) -> None:
        profile = self.profile
        try:
            self.service.set_default_address(profile.id, profile.version, address_id, self.actor)
        except (InvalidInput, StaleEdit) as refusal:
            text = (
                "; ".join(refusal.errors.values())
                if isinstance(refusal, InvalidInput)
                else str(refusal)
            )
            self.app.call_from_thread(self._message, f"Not saved: {text}")
            return
        self.app.call_from_thread(self.dismiss, True)

    def _message(self, text: str) -> None:
        self.query_one("#addresses-message", Static).update(Text(safe_text(text)))

    def action_close(self) -> None:
        self.dismiss(False)
