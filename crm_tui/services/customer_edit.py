"""Changing a customer: details, account state, addresses, notes, tags, new customers.

Rules every write here keeps:
- Input is validated whole before anything is written; `InvalidInput` carries a
  message per field, for the form to show beside it. Nothing is written then.
- A change to the customer record states the `version` it was made on. The
  update is conditional on that version (`UPDATE … WHERE version = :seen`), so
  of two agents saving the same customer the second is refused with
  `StaleEdit` ("changed by NAME at TIME — reload"), never a silent overwrite.
  Notes and tags are additions to sets: two agents adding both land, so those
  writes are not refused (and so nothing typed is ever thrown away).
- Every write leaves an activity event with its actor, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.formatting import format_moment
from crm_tui.models import tables
from crm_tui.models.enums import (
    AccountState,
    ActivityKind,
    AddressKind,
    CustomerKind,
    LifecycleStatus,
    NoteType,
    PaymentTerms,
)
from crm_tui.models.profile import address_line
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.database import as_utc
from crm_tui.services.directory import SearchTerms, like_contains
from crm_tui.services.intents import insert_event
from crm_tui.services.permissions import Permission, authorize
from crm_tui.services.profile import CustomerNotFound, customer_row
from crm_tui.services.validation import (
    NAME_MAX,
    ValidationError,
    currency_for_country,
    email_key,
    validate_company_id,
    validate_country,
    validate_email,
    validate_name,
    validate_phone,
    validate_postal_code,
    validate_text,
    validate_vat_number,
)

_TABLES = tables.SQLModel.metadata.tables
_customer = _TABLES["customer"]
_address = _TABLES["address"]
_tag = _TABLES["tag"]
_customer_tag = _TABLES["customer_tag"]
_note = _TABLES["note"]
_state_change = _TABLES["account_state_change"]
_agent = _TABLES["agent"]

TAG_MAX = 40
REASON_MIN = 5  # a reason is a sentence an auditor can read, not "x"
DUPLICATES_SHOWN = 8

_T = TypeVar("_T")


# ------------------------------------------------------------------- errors


class InvalidInput(ValueError):
    """Input refused before anything was written: a message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class StaleEdit(Exception):
    """The customer changed since the agent loaded it: the save is refused."""

    def __init__(self, customer_id: int, by: str, at: datetime) -> None:
        self.customer_id, self.by, self.at = customer_id, by, at
        when = f"{format_moment(at.astimezone(UTC))} UTC"
        super().__init__(f"changed by {by} at {when} — reload")


def _checked(errors: dict[str, str], key: str, check: Callable[[], _T], default: _T) -> _T:
    """Run one validator; on a refusal, note it under `key` and go on with the others."""
    try:
        return check()
    except ValidationError as error:
        errors[key] = error.message
        return default


# -------------------------------------------------------------------- input


@dataclass(frozen=True)
class CustomerDetails:
    """Who the customer is: the fields of the details form and of a new customer."""

    kind: str = CustomerKind.INDIVIDUAL.value
    name: str = ""
    email: str = ""
    phone: str = ""
    country: str = ""
    company_name: str = ""
    company_reg_no: str = ""
    company_email: str = ""
    vat_id: str = ""
    payment_terms: str | None = None
    billing_group: str = ""
    billing_contact: str = ""

    def validated(self) -> CustomerDetails:
        """The same details, normalised (email trimmed, phone in +<code> form, …)."""
        errors: dict[str, str] = {}
        kind = self.kind if self.kind in set(CustomerKind) else ""
        if not kind:
            errors["kind"] = "choose individual or business"
        country = _checked(errors, "country", lambda: validate_country(self.country), "")
        business = kind == CustomerKind.BUSINESS
        terms = self.payment_terms or None
        if terms is not None and terms not in set(PaymentTerms):
            errors["payment_terms"] = "choose Net 7, Net 14 or Net 30"
        clean = CustomerDetails(
            kind=kind,
            name=_checked(errors, "name", lambda: validate_name(self.name), ""),
            email=_checked(errors, "email", lambda: validate_email(self.email), ""),
            phone=_checked(
                errors, "phone", lambda: validate_phone(self.phone, country=country), ""
            ),
            country=country,
            company_name=_checked(
                errors,
                "company_name",
                lambda: validate_name(self.company_name, "company", required=business),
                "",
            ),
            company_reg_no=_checked(
                errors, "company_reg_no", lambda: validate_company_id(self.company_reg_no), ""
            ),
            company_email=_checked(
                errors,
                "company_email",
                lambda: validate_email(self.company_email, "company email", required=False),
                "",
            ),
            vat_id=_checked(errors, "vat_id", lambda: validate_vat_number(self.vat_id), ""),
            payment_terms=terms,
            billing_group=_checked(
                errors,
                "billing_group",
                lambda: validate_text(self.billing_group, "billing group", max_length=NAME_MAX),
                "",
            ),
            billing_contact=_checked(
                errors,
                "billing_contact",
                lambda: validate_text(self.billing_contact, "billing contact"),
                "",
            ),
        )
        if errors:
            raise InvalidInput(errors)
        if not business:
            # An individual carries no company fields: switching the type clears them.
            clean = replace(
                clean,
                company_name="",
                company_reg_no="",
                company_email="",
                vat_id="",
                payment_terms=None,
                billing_group="",
                billing_contact="",
            )
        return clean


@dataclass(frozen=True)
class AddressInput:
    kind: str = AddressKind.BILLING.value
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    make_default: bool = False

    def validated(self) -> AddressInput:
        errors: dict[str, str] = {}
        if self.kind not in set(AddressKind):
            errors["kind"] = "choose billing or shipping"

        def text(key: str, label: str, required: bool = False) -> str:
            value = getattr(self, key)
            return _checked(
                errors,
                key,
                lambda: validate_text(value, label, required=required, max_length=NAME_MAX),
                "",
            )

        clean = AddressInput(
            kind=self.kind,
            line1=text("line1", "street", required=True),
            line2=text("line2", "second line"),
            city=text("city", "city", required=True),
            state=text("state", "state"),
            postal_code=_checked(
                errors, "postal_code", lambda: validate_postal_code(self.postal_code), ""
            ),
            country=_checked(errors, "country", lambda: validate_country(self.country), ""),
            make_default=self.make_default,
        )
        if not clean.country and "country" not in errors:
            errors["country"] = "is required"
        if errors:
            raise InvalidInput(errors)
        # Only a billing address can be the default (the one invoices go to).
        return replace(clean, make_default=clean.make_default and clean.kind == "billing")


@dataclass(frozen=True)
class NoteInput:
    type: str = NoteType.OTHER.value
    summary: str = ""
    body: str = ""
    follow_up_on: date | None = None

    def validated(self, today: date) -> NoteInput:
        errors: dict[str, str] = {}
        if self.type not in set(NoteType):
            errors["type"] = "choose email, phone, meeting or other"
        summary = _checked(
            errors,
            "summary",
            lambda: validate_text(self.summary, "summary", required=True, max_length=NAME_MAX),
            "",
        )
        body = _checked(
            errors,
            "body",
            lambda: validate_text(self.body, "note", max_length=10_000, multiline=True),
            "",
        )
        if self.follow_up_on is not None and self.follow_up_on < today:
            errors["follow_up_on"] = "is in the past; choose today or a later day"
        if errors:
            raise InvalidInput(errors)
        return NoteInput(self.type, summary, body, self.follow_up_on)


def parse_day(text: str, field: str = "follow_up_on") -> date | None:
    """'2026-12-01' → date; '' → None. Refuses anything else with a clear message."""
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        raise InvalidInput({field: f"'{cleaned}' is not a date: write it as YYYY-MM-DD"}) from None


def validate_tag(text: str) -> str:
    """A tag: one short word or phrase, lower-cased ("VIP " → "vip")."""
    errors: dict[str, str] = {}
    tag = _checked(
        errors, "tag", lambda: validate_text(text, "tag", required=True, max_length=TAG_MAX), ""
    )
    if errors:
        raise InvalidInput(errors)
    return " ".join(tag.split()).lower()


def validate_reason(text: str, field: str = "reason") -> str:
    errors: dict[str, str] = {}
    reason = _checked(
        errors, field, lambda: validate_text(text, "reason", required=True, multiline=True), ""
    )
    if not errors and len(reason) < REASON_MIN:
        errors[field] = f"say why in a few words (at least {REASON_MIN} characters)"
    if errors:
        raise InvalidInput(errors)
    return reason


@dataclass(frozen=True)
class DuplicateCandidate:
    """An existing customer a new one may be the same as, and why we think so."""

    id: int
    name: str
    email: str
    company_name: str
    why: str  # "same email", "similar name", "same company"


# ------------------------------------------------------------------ service


_DETAIL_LABELS = {
    "kind": "type",
    "name": "name",
    "email": "email",
    "phone": "phone",
    "country": "country",
    "company_name": "company",
    "company_reg_no": "company id",
    "company_email": "company email",
    "vat_id": "VAT id",
    "payment_terms": "payment terms",
    "billing_group": "billing group",
    "billing_contact": "billing contact",
}


class CustomerEditService:
    """The writes of the profile screen. Thread-safe: each call has its own transaction."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.now = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------- details

    def update_details(
        self, customer_id: int, seen_version: int, details: CustomerDetails, actor: Actor
    ) -> int:
        """Save the details form; returns the new version. Unchanged details write nothing."""
        clean = details.validated()
        with self._transaction() as connection:
            current = customer_row(connection, customer_id)
            changes = {
                key: (getattr(current, key), value)
                for key, value in asdict(clean).items()
                if (getattr(current, key) or None) != (value or None)
            }
            if not changes:
                self._check_version(connection, current, seen_version)
                return int(current.version)
            values = {key: new for key, (_old, new) in changes.items()}
            version = self._bump(connection, current.id, seen_version, actor, values)
            described = ", ".join(_DETAIL_LABELS[key] for key in changes)
            self._event(
                connection,
                current.id,
                ActivityKind.PROFILE,
                actor,
                f"Changed {described}",
                {
                    _DETAIL_LABELS[key]: f"{old or '—'} → {new or '—'}"
                    for key, (old, new) in changes.items()
                },
                before={key: old for key, (old, _new) in changes.items()},
                after={key: new for key, (_old, new) in changes.items()},
            )
            return version

    def change_account_state(
        self, customer_id: int, seen_version: int, to_state: str, reason: str, actor: Actor
    ) -> int:
        """Block, deactivate or reactivate, with the reason kept in the status history."""
        if to_state not in set(AccountState):
            raise InvalidInput({"state": "choose active, deactivated or blocked"})
        reason = validate_reason(reason)
        with self._transaction() as connection:
            current = customer_row(connection, customer_id)
            # A stale view is refused first: "already blocked" would hide who blocked it.
            self._check_version(connection, current, seen_version)
            if current.account_state == to_state:
                raise InvalidInput({"state": f"the account is already {to_state}"})
            version = self._bump(
                connection, current.id, seen_version, actor, {"account_state": to_state}
            )
            connection.execute(
                sa.insert(_state_change).values(
                    customer_id=current.id,
                    from_state=current.account_state,
                    to_state=to_state,
                    reason=reason,
                    changed_at=self.now(),
                    agent_id=actor.agent_id,
                )
            )
            self._event(
                connection,
                current.id,
                ActivityKind.PROFILE,
                actor,
                f"Account {_state_verb(to_state)}: {reason}",
                {"from": current.account_state, "to": to_state, "reason": reason},
            )
            return version

    # ----------------------------------------------------------- addresses

    def add_address(
        self, customer_id: int, seen_version: int, address: AddressInput, actor: Actor
    ) -> int:
        clean = address.validated()
        with self._transaction() as connection:
            current = customer_row(connection, customer_id)
            version = self._bump(connection, current.id, seen_version, actor, {})
            first_billing = clean.kind == "billing" and not self._has_default(
                connection, current.id
            )
            make_default = clean.make_default or first_billing
            if make_default:
                self._clear_default(connection, current.id)
            self._insert_address(connection, current.id, clean, make_default)
            self._event(
                connection,
                current.id,
                ActivityKind.PROFILE,
                actor,
                f"Added a {clean.kind} address" + (" (default)" if make_default else ""),
                {"address": address_line(clean)},
            )
            return version

    def replace_address(
        self,
        customer_id: int,
        seen_version: int,
        address_id: int,
        address: AddressInput,
        actor: Actor,
    ) -> int:
        """Edit an address: the old version is closed and kept as history."""
        clean = address.validated()
        with self._transaction() as connection:
            current = customer_row(connection, customer_id)
            # A stale view is refused first: the address may be gone because of that edit.
            self._check_version(connection, current, seen_version)
            old = self._current_address(connection, current.id, address_id)
            version = self._bump(connection, current.id, seen_version, actor, {})
            now = self.now()
            connection.execute(
                sa.update(_address)
                .where(_address.c.id == old.id)
                .values(valid_to=now, is_default=False)
            )
            make_default = clean.make_default or (bool(old.is_default) and clean.kind == "billing")
            if make_default:
                self._clear_default(connection, current.id)
            self._insert_address(connection, current.id, clean, make_default)
            self._event(
                connection,
                current.id,
                ActivityKind.PROFILE,
                actor,
                f"Changed a {clean.kind} address",
                {"before": address_line(old), "after": address_line(clean)},
            )
            return version

    def set_default_address(
        self, customer_id: int, seen_version: int, address_id: int, actor: Actor
    ) -> int:
        with self._transaction() as connection:
            current = customer_row(connection, customer_id)
            self._check_version(connection, current, seen_version)  # as in replace_address
            chosen = self._current_address(connection, current.id, address_id)
            if chosen.kind != AddressKind.BILLING.value:
                raise InvalidInput({"address": "only a billing address can be the default"})
            version = self._bump(connection, current.id, seen_version, actor, {})
            self._clear_default(connection, current.id)
            connection.execute(
                sa.update(_address).where(_address.c.id == chosen.id).values(is_default=True)
            )
            self._event(
                connection,
                current.id,
                ActivityKind.PROFILE,
                actor,
                "Chose the default billing address",
                {"address": address_line(chosen)},
            )
            return version

    # -------------------------------------------------------- notes and tags

    def add_note(self, customer_id: int, note: NoteInput, actor: Actor) -> int:
        """Add a note; returns its id. Notes are never refused for a concurrent change."""
        clean = note.validated(self.now().date())
        with self._transaction() as connection:
            current = customer_row(connection, customer_id)
            note_id = _new_id(
                connection,
                sa.insert(_note).values(
                    customer_id=current.id,
                    type=clean.type,
                    summary=clean.summary,
                    body=clean.body,
                    follow_up_on=clean.follow_up_on,
                    created_at=self.now(),
                    agent_id=actor.agent_id,
                ),
            )
            details = {"note_id": note_id, "type": clean.type}
            if clean.follow_up_on:
                details["follow_up_on"] = clean.follow_up_on.isoformat()
            self._event(
                connection,
                current.id,
                ActivityKind.SUPPORT,
                actor,
                f"Added a {clean.type} note: {clean.summary}",
                details,
            )
            return int(note_id)

    def add_tag(self, customer_id: int, tag: str, actor: Actor) -> bool:
        """Tag the customer; False when they already had the tag (nothing written)."""
        name = validate_tag(tag)
        with self._transaction() as connection:
            current = customer_row(connection, customer_id)
            tag_id = self._tag_id(connection, name)
            exists = connection.execute(
                sa.select(_customer_tag.c.tag_id).where(
                    _customer_tag.c.customer_id == current.id, _customer_tag.c.tag_id == tag_id
                )
            ).first()
            if exists:
                return False
            connection.execute(
                sa.insert(_customer_tag).values(
                    customer_id=current.id,
                    tag_id=tag_id,
                    added_at=self.now(),
                    added_by_agent_id=actor.agent_id,
                )
            )
            self._event(
                connection, current.id, ActivityKind.PROFILE, actor, f"Tagged {name}", {"tag": name}
            )
            return True

    def remove_tag(self, customer_id: int, tag: str, actor: Actor) -> bool:
        """Remove a tag; False when the customer did not have it (nothing written)."""
        name = validate_tag(tag)
        with self._transaction() as connection:
            current = customer_row(connection, customer_id)
            tag_id = connection.execute(
                sa.select(_tag.c.id).where(sa.func.lower(_tag.c.name) == name)
            ).scalar()
            if tag_id is None:
                return False
            removed = connection.execute(
                sa.delete(_customer_tag).where(
                    _customer_tag.c.customer_id == current.id, _customer_tag.c.tag_id == tag_id
                )
            ).rowcount
            if not removed:
                return False
            self._event(
                connection,
                current.id,
                ActivityKind.PROFILE,
                actor,
                f"Removed the tag {name}",
                {"tag": name},
            )
            return True

    # ------------------------------------------------------------ new customer

    def find_duplicates(self, details: CustomerDetails, actor: Actor) -> list[DuplicateCandidate]:
        """Customers a new one may duplicate: the same email, a similar name or company."""
        found: dict[int, DuplicateCandidate] = {}
        with self.engine.connect() as connection:

            def add(rows: Any, why: str) -> None:
                for row in rows:
                    if row.id not in found and len(found) < DUPLICATES_SHOWN:
                        found[row.id] = DuplicateCandidate(
                            row.id, row.name, row.email, row.company_name, why
                        )

            columns = (
                _customer.c.id,
                _customer.c.name,
                _customer.c.email,
                _customer.c.company_name,
            )
            if details.email:
                key = email_key(details.email)
                same_email = sa.select(*columns).where(
                    sa.or_(
                        _customer.c.email == details.email, sa.func.lower(_customer.c.email) == key
                    )
                )
                add(connection.execute(same_email.limit(DUPLICATES_SHOWN)), "same email")
            for value, column, why in (
                (details.name, _customer.c.name, "similar name"),
                (details.company_name, _customer.c.company_name, "similar company"),
            ):
                words = SearchTerms.parse(value).words
                if value and words:
                    clauses = [
                        sa.func.lower(column).like(like_contains(word), escape="\\")
                        for word in words
                    ]
                    query = sa.select(*columns).where(*clauses).order_by(_customer.c.id)
                    add(connection.execute(query.limit(DUPLICATES_SHOWN)), why)
        return list(found.values())

    def create_customer(
        self, details: CustomerDetails, address: AddressInput | None, actor: Actor
    ) -> int:
        """A new customer (and their billing address); returns the id."""
        errors: dict[str, str] = {}
        clean = _checked_input(errors, details.validated)
        clean_address = _checked_input(errors, address.validated) if address else None
        if errors:
            raise InvalidInput(errors)
        assert clean is not None
        now = self.now()
        with self._transaction() as connection:
            values = asdict(clean) | {
                "storefront": "Agent",
                "region": "",
                "timezone": "UTC",
                "registered_at": now,
                "account_state": AccountState.ACTIVE.value,
                "lifecycle_status": LifecycleStatus.INACTIVE.value,
                "current_plan": "",
                "has_active_subscription": False,
                "currency": currency_for_country(clean.country),
                "mrr_minor": 0,
                "ltv_minor": 0,
                "version": 1,
                "updated_at": now,
                "updated_by_agent_id": actor.agent_id,
            }
            customer_id = int(_new_id(connection, sa.insert(_customer).values(**values)))
            if clean_address is not None:
                make_default = clean_address.kind == "billing"
                self._insert_address(connection, customer_id, clean_address, make_default)
            self._event(
                connection,
                customer_id,
                ActivityKind.PROFILE,
                actor,
                f"Created the {clean.kind} customer {clean.name}",
                {"email": clean.email},
            )
            return customer_id

    # ------------------------------------------------------------- plumbing

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    def _check_version(self, connection: Connection, current: Any, seen_version: int) -> None:
        if int(current.version) != seen_version:
            raise self._stale(connection, current)

    def _bump(
        self,
        connection: Connection,
        customer_id: int,
        seen_version: int,
        actor: Actor,
        values: dict[str, Any],
    ) -> int:
        """Write `values` if the customer is still at `seen_version`; the new version."""
        result = connection.execute(
            sa.update(_customer)
            .where(_customer.c.id == customer_id, _customer.c.version == seen_version)
            .values(
                version=_customer.c.version + 1,
                updated_at=self.now(),
                updated_by_agent_id=actor.agent_id,
                **values,
            )
        )
        if result.rowcount != 1:
            raise self._stale(connection, customer_row(connection, customer_id))
        return seen_version + 1

    def _stale(self, connection: Connection, current: Any) -> StaleEdit:
        by = "system"
        if current.updated_by_agent_id is not None:
            name = connection.execute(
                sa.select(_agent.c.display_name).where(_agent.c.id == current.updated_by_agent_id)
            ).scalar()
            by = str(name or f"agent #{current.updated_by_agent_id}")
        return StaleEdit(current.id, by, as_utc(current.updated_at))

    def _event(
        self,
        connection: Connection,
        customer_id: int,
        kind: ActivityKind,
        actor: Actor,
        summary: str,
        details: dict[str, Any],
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        # Every change here passes this point, in its transaction: the last line of
        # the permission check (as intents.record_activity is for the others).
        authorize(connection, actor, Permission.CHANGE, "change customers")
        _refuse_erased(connection, customer_id)
        when = self.now()
        insert_event(connection, customer_id, kind, actor, summary, details, when)
        audit.record_change(
            connection,
            actor,
            customer_id,
            kind.value,
            summary[: NAME_MAX * 2],
            details,
            when,
            before=before,
            after=after,
        )

    @staticmethod
    def _has_default(connection: Connection, customer_id: int) -> bool:
        query = sa.select(_address.c.id).where(
            _address.c.customer_id == customer_id,
            _address.c.is_default.is_(True),
            _address.c.valid_to.is_(None),
        )
        return connection.execute(query).first() is not None

    @staticmethod
    def _clear_default(connection: Connection, customer_id: int) -> None:
        connection.execute(
            sa.update(_address)
            .where(_address.c.customer_id == customer_id, _address.c.is_default.is_(True))
            .values(is_default=False)
        )

    @staticmethod
    def _current_address(connection: Connection, customer_id: int, address_id: int) -> Any:
        row = connection.execute(
            sa.select(_address).where(
                _address.c.id == address_id,
                _address.c.customer_id == customer_id,
                _address.c.valid_to.is_(None),
            )
        ).first()
        if row is None:
            raise InvalidInput(
                {"address": "this address was changed or removed meanwhile — reload"}
            )
        return row

    def _insert_address(
        self, connection: Connection, customer_id: int, address: AddressInput, is_default: bool
    ) -> None:
        connection.execute(
            sa.insert(_address).values(
                customer_id=customer_id,
                kind=address.kind,
                is_default=is_default,
                line1=address.line1,
                line2=address.line2,
                city=address.city,
                state=address.state,
                postal_code=address.postal_code,
                country=address.country,
                valid_from=self.now(),
                valid_to=None,
            )
        )

    @staticmethod
    def _tag_id(connection: Connection, name: str) -> int:
        existing = connection.execute(
            sa.select(_tag.c.id).where(sa.func.lower(_tag.c.name) == name)
        ).scalar()
        if existing is not None:
            return int(existing)
        return _new_id(connection, sa.insert(_tag).values(name=name))


def _new_id(connection: Connection, statement: sa.Insert) -> int:
    key = connection.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


def _checked_input(errors: dict[str, str], validate: Callable[[], _T]) -> _T | None:
    try:
        return validate()
    except InvalidInput as refusal:
        errors.update(refusal.errors)
        return None


def _state_verb(state: str) -> str:
    return {"active": "reactivated", "deactivated": "deactivated", "blocked": "blocked"}[state]


__all__ = [
    "AddressInput",
    "CustomerDetails",
    "CustomerEditService",
    "CustomerNotFound",
    "DuplicateCandidate",
    "InvalidInput",
    "NoteInput",
    "StaleEdit",
    "parse_day",
    "validate_reason",
    "validate_tag",
]


def _refuse_erased(connection: Connection, customer_id: int) -> None:
    """An erased customer's details stay erased: nothing personal can be added back."""
    erased_at = connection.execute(
        sa.select(_customer.c.erased_at).where(_customer.c.id == customer_id)
    ).scalar()
    if erased_at is not None:
        raise InvalidInput(
            {"customer": "this customer's personal data was erased: it cannot be changed"}
        )
