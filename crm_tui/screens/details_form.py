"""Edit a customer's details (`e` on the profile) and create a new one (`N` in the directory).

Both take the same fields, checked by the same `CustomerDetails.validated`. The
company fields show only for a business. A new customer is first compared with
the ones stored: the same email, a similar name or company are listed, and the
agent saves again (ctrl+s) to create it anyway, or escapes and opens the match.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Select, Static

from crm_tui.models.profile import CustomerProfile
from crm_tui.screens.form import FormField, FormScreen, choice, text_input
from crm_tui.screens.profile_tabs import TERMS_LABELS
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import (
    AddressInput,
    CustomerDetails,
    CustomerEditService,
    DuplicateCandidate,
)
from crm_tui.services.validation import EMAIL_MAX, NAME_MAX, TEXT_MAX
from crm_tui.text import safe_text

KIND_OPTIONS = [("Individual", "individual"), ("Business", "business")]
TERMS_OPTIONS = [(label, value) for value, label in TERMS_LABELS.items()]
BUSINESS_FIELDS = (
    "company_name",
    "company_reg_no",
    "vat_id",
    "payment_terms",
    "billing_group",
    "billing_contact",
    "company_email",
)


def _details_fields(details: CustomerDetails) -> ComposeResult:
    yield FormField("kind", "Customer type", choice(KIND_OPTIONS, details.kind))
    yield FormField("name", "Name", text_input(details.name, max_length=NAME_MAX))
    yield FormField("email", "Email", text_input(details.email, max_length=EMAIL_MAX))
    yield FormField(
        "phone",
        "Phone",
        text_input(details.phone, placeholder="+49 30 1234567", max_length=40),
        hint="normalised to +<country code>",
    )
    yield FormField(
        "country", "Country", text_input(details.country, placeholder="DE", max_length=100)
    )
    yield FormField(
        "company_name", "Company", text_input(details.company_name, max_length=NAME_MAX)
    )
    yield FormField(
        "company_reg_no", "Registration no.", text_input(details.company_reg_no, max_length=50)
    )
    yield FormField(
        "vat_id", "VAT id", text_input(details.vat_id, placeholder="DE123456789", max_length=50)
    )
    yield FormField(
        "payment_terms",
        "Payment terms",
        choice(TERMS_OPTIONS, details.payment_terms, allow_blank=True),
    )
    yield FormField(
        "billing_group", "Billing group", text_input(details.billing_group, max_length=NAME_MAX)
    )
    yield FormField(
        "billing_contact",
        "Billing contact",
        text_input(details.billing_contact, max_length=TEXT_MAX),
    )
    yield FormField(
        "company_email", "Company email", text_input(details.company_email, max_length=EMAIL_MAX)
    )


def details_of(profile: CustomerProfile) -> CustomerDetails:
    return CustomerDetails(
        kind=profile.kind,
        name=profile.name,
        email=profile.email,
        phone=profile.phone,
        country=profile.country,
        company_name=profile.company_name,
        company_reg_no=profile.company_reg_no,
        company_email=profile.company_email,
        vat_id=profile.vat_id,
        payment_terms=profile.payment_terms,
        billing_group=profile.billing_group,
        billing_contact=profile.billing_contact,
    )


class _DetailsFormBase(FormScreen[int]):
    def on_mount(self) -> None:
        self._show_business_fields()
        self.set_focus(self.query_one("#field-name", FormField).control)

    @on(Select.Changed, "#field-kind Select")
    def _kind_changed(self) -> None:
        self._show_business_fields()

    def _show_business_fields(self) -> None:
        business = self.value("kind") == "business"
        for key in BUSINESS_FIELDS:
            self.query_one(f"#field-{key}", FormField).display = business

    def details(self) -> CustomerDetails:
        terms = self.value("payment_terms") or None
        return CustomerDetails(
            kind=self.value("kind"),
            name=self.value("name"),
            email=self.value("email"),
            phone=self.value("phone"),
            country=self.value("country"),
            company_name=self.value("company_name"),
            company_reg_no=self.value("company_reg_no"),
            company_email=self.value("company_email"),
            vat_id=self.value("vat_id"),
            payment_terms=terms,
            billing_group=self.value("billing_group"),
            billing_contact=self.value("billing_contact"),
        )


class DetailsForm(_DetailsFormBase):
    """Dismisses with the customer's new version, or None."""

    TITLE_TEXT = "Edit contact and business details"

    def __init__(
        self, service: CustomerEditService, actor: Actor, profile: CustomerProfile
    ) -> None:
        super().__init__()
        self.service, self.actor, self.profile = service, actor, profile

    def fields(self) -> ComposeResult:
        yield from _details_fields(details_of(self.profile))

    def save(self) -> None:
        details, profile = self.details(), self.profile
        self.run_save(
            lambda: self.service.update_details(profile.id, profile.version, details, self.actor),
            self._saved_version,
        )

    def _saved_version(self, version: int) -> None:
        if version == self.profile.version:
            self.app.notify("Nothing changed: nothing was saved.", timeout=3)
            self.dismiss(None)
        else:
            self.dismiss(version)


class NewCustomerForm(_DetailsFormBase):
    """Dismisses with the new customer's id, or None."""

    TITLE_TEXT = "New customer"

    def __init__(self, service: CustomerEditService, actor: Actor) -> None:
        super().__init__()
        self.service, self.actor = service, actor
        self.checked: CustomerDetails | None = None  # details the duplicates were shown for

    def fields(self) -> ComposeResult:
        yield Static("", id="duplicates")
        yield from _details_fields(CustomerDetails())
        yield FormField("line1", "Billing address: street", text_input(max_length=NAME_MAX))
        yield FormField("city", "City", text_input(max_length=NAME_MAX))
        yield FormField("postal_code", "Postal code", text_input(max_length=20))
        yield FormField("state", "State / region", text_input(max_length=NAME_MAX))

    def address(self) -> AddressInput | None:
        values = [self.value(key) for key in ("line1", "city", "postal_code", "state")]
        if not any(v.strip() for v in values):
            return None  # no address: fine, it can be added later
        line1, city, postal_code, state = values
        return AddressInput(
            kind="billing",
            line1=line1,
            city=city,
            postal_code=postal_code,
            state=state,
            country=self.value("country"),
            make_default=True,
        )

    def save(self) -> None:
        details, address = self.details(), self.address()
        if self.checked == details:
            # The agent has seen the possible duplicates and saves anyway.
            self.run_save(
                lambda: self.service.create_customer(details, address, self.actor), self.dismiss
            )
            return

        def check() -> list[DuplicateCandidate]:
            clean = details.validated()  # refuse bad input before looking for duplicates
            if address is not None:
                address.validated()
            return self.service.find_duplicates(clean, self.actor)

        def checked(candidates: list[DuplicateCandidate]) -> None:
            if not candidates:
                self.checked = details
                self.save()
                return
            self.checked = details
            self._show_duplicates(candidates)

        self.run_save(check, checked)

    def _show_duplicates(self, candidates: list[DuplicateCandidate]) -> None:
        lines = ["Possible duplicates — ctrl+s again to create anyway, escape to stop:"]
        lines += [
            f"  #{c.id} {safe_text(c.name)} <{safe_text(c.email)}>"
            + (f" · {safe_text(c.company_name)}" if c.company_name else "")
            + f" — {c.why}"
            for c in candidates
        ]
        duplicates = self.query_one("#duplicates", Static)
        duplicates.update(Text("\n".join(lines)))
        self.show_banner(
            f"{len(candidates)} customer(s) look like this one. Nothing was saved yet."
        )
        duplicates.scroll_visible(animate=False)
