"""Stripe, through its official SDK (`stripe.StripeClient`), with the API base a setting.

Every answer is turned into a plain dict (`to_dict`) and read tolerantly: Stripe
objects are not dicts in stripe 16, older API versions (and localstripe) answer
in older shapes, and a missing field must become a clear message, never a
KeyError on the agent's screen.

Money-moving calls carry the caller's idempotency key (Stripe replays the first
answer for 24 hours). Refunds also carry it in their metadata, so a pending
intent can be settled later by listing the charge's refunds (`find_refund`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe

from crm_tui.formatting import format_money
from crm_tui.services.providers.base import (
    ATTEMPTS,
    FailureKind,
    ProrationPreview,
    ProviderCharge,
    ProviderCredit,
    ProviderError,
    ProviderRefund,
    ProviderSubscription,
    retry_wait,
)

KEY_METADATA = "crm_idempotency_key"
T = TypeVar("T")

# Stripe subscription status → ours (SubscriptionStatus values).
SUBSCRIPTION_STATUS = {
    "active": "active",
    "trialing": "trial",
    "past_due": "grace",
    "unpaid": "grace",
    "incomplete": "grace",
    "paused": "paused",
    "canceled": "cancelled",
    "incomplete_expired": "expired",
}


def from_timestamp(value: Any) -> datetime | None:
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else {}


def require(data: dict[str, Any], key: str, what: str) -> Any:
    value = data.get(key)
    if value is None or value == "":
        raise ProviderError(FailureKind.INVALID, f"Stripe answered without {what}")
    return value


def _money(amount: Any, what: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ProviderError(FailureKind.INVALID, f"Stripe answered without {what}")
    return amount


def translate(error: stripe.StripeError) -> ProviderError:
    """A Stripe error, in words an agent can act on."""
    code = getattr(error, "code", None) or ""
    message = getattr(error, "user_message", None) or str(error) or "no details"
    if isinstance(error, stripe.CardError):
        decline = (getattr(error, "json_body", None) or {}).get("error", {}).get("decline_code")
        if decline == "insufficient_funds" or code == "insufficient_funds":
            return ProviderError(FailureKind.INSUFFICIENT_FUNDS, "insufficient funds on the card")
        return ProviderError(FailureKind.DECLINED, f"card declined: {message}")
    if isinstance(error, stripe.RateLimitError) or error.http_status == 429:
        after = (error.headers or {}).get("Retry-After") if error.headers else None
        wait = f"; try again in {after} s" if after else "; try again in a moment"
        return ProviderError(FailureKind.RATE_LIMITED, "Stripe is rate limiting requests" + wait)
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderError(
            FailureKind.NOT_CONFIGURED,
            "Stripe refused the API key — check it with crm-tui secrets set stripe",
        )
    if isinstance(error, stripe.APIConnectionError):
        return ProviderError(FailureKind.UNREACHABLE, "Stripe could not be reached")
    if isinstance(error, stripe.IdempotencyError):
        return ProviderError(FailureKind.INVALID, f"Stripe refused a repeated request: {message}")
    if code == "charge_already_refunded":
        return ProviderError(FailureKind.ALREADY_REFUNDED, "the payment is already fully refunded")
    if code == "resource_missing" or error.http_status == 404:
        return ProviderError(FailureKind.NOT_FOUND, f"Stripe has no such object ({message})")
    if error.http_status is not None and error.http_status >= 500:
        return ProviderError(FailureKind.UNREACHABLE, f"Stripe had an error ({error.http_status})")
    if isinstance(error, stripe.APIError) and error.http_status is None:
        return ProviderError(FailureKind.UNREACHABLE, "Stripe answered with something unreadable")
    return ProviderError(FailureKind.INVALID, f"Stripe refused: {message}")


def _retry_wait(error: stripe.StripeError, attempt: int) -> float | None:
    """How long to wait before trying `error`'s request again; None: do not."""
    rate_limited = isinstance(error, stripe.RateLimitError) or error.http_status == 429
    transient = isinstance(error, stripe.APIConnectionError) or (
        error.http_status is not None and error.http_status >= 500
    )
    after = (error.headers or {}).get("Retry-After") if error.headers else None
    return retry_wait(attempt, transient=transient, rate_limited=rate_limited, retry_after=after)


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        timeout: float = 20.0,
        max_network_retries: int = 0,
    ) -> None:
        # Retries are ours to decide (with the same idempotency key), not the SDK's.
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
            http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
        )
        # Parameters are built as plain dicts (and read back tolerantly), so the
        # SDK's TypedDicts are not imposed here.
        self.api: Any = self.client.v1

    # ----------------------------------------------------------------- calls

    def call(self, request: Callable[[], Any]) -> dict[str, Any]:
        """Run `request`, retrying what may pass on a second try — a timeout, a reset
        connection, a 5xx, a 429 whose Retry-After is short — at most ATTEMPTS
        times. Safe because every request that changes something carries its
        idempotency key, and a retry sends the same one: Stripe answers a repeat
        with the first answer, so nothing is done twice. Then a clear message."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return as_dict(request())
            except stripe.StripeError as error:
                wait = _retry_wait(error, attempt)
                if wait is None or attempt == ATTEMPTS:
                    raise translate(error) from error
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)  # a method, so that tests can take the waits out

    def options(self, idempotency_key: str) -> Any:
        return {"idempotency_key": idempotency_key}

    # ---------------------------------------------------------------- refunds

    def refund(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        params: dict[str, Any] = {
            self._payment_param(payment_id): payment_id,
            "amount": amount_minor,
            "reason": "requested_by_customer",
            "metadata": {KEY_METADATA: idempotency_key, "crm_reason": reason[:450]},
        }
        answer = self.call(lambda: self.api.refunds.create(params, self.options(idempotency_key)))
        return self._refund(answer)

    def find_refund(self, payment_id: str, idempotency_key: str) -> ProviderRefund | None:
        params = {self._payment_param(payment_id): payment_id, "limit": 100}
        for refund in self.iterate(lambda after: self.api.refunds.list({**params, **after})):
            if (refund.get("metadata") or {}).get(KEY_METADATA) == idempotency_key:
                return self._refund(refund)
        return None

    def _payment_param(self, payment_id: str) -> str:
        return "payment_intent" if payment_id.startswith("pi_") else "charge"

    def _refund(self, answer: dict[str, Any]) -> ProviderRefund:
        status = str(answer.get("status") or "pending")
        return ProviderRefund(
            id=str(require(answer, "id", "a refund id")),
            amount_minor=_money(answer.get("amount"), "the refunded amount"),
            currency=str(require(answer, "currency", "a currency")).upper(),
            status={"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}.get(
                status, "pending"
            ),
        )

    # ------------------------------------------------------------------ money

    def retry_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderCharge:
        """Pay the invoice again (`in_`), or confirm the payment intent again (`pi_`)."""
        if payment_id.startswith("in_"):
            try:
                invoice = self.call(
                    lambda: self.api.invoices.pay(payment_id, {}, self.options(idempotency_key))
                )
            except ProviderError as error:
                if error.kind in (FailureKind.DECLINED, FailureKind.INSUFFICIENT_FUNDS):
                    return ProviderCharge(payment_id, 0, "", "failed", error.message)
                raise
            return self._invoice_charge(invoice)
        if payment_id.startswith("pi_"):
            try:
                intent = self.call(
                    lambda: self.api.payment_intents.confirm(
                        payment_id, {}, self.options(idempotency_key)
                    )
                )
            except ProviderError as error:
                if error.kind in (FailureKind.DECLINED, FailureKind.INSUFFICIENT_FUNDS):
                    return ProviderCharge(payment_id, 0, "", "failed", error.message)
                raise
            return self._intent_charge(intent)
        raise ProviderError(
            FailureKind.NOT_SUPPORTED,
            "Stripe retries a payment through its invoice or payment intent; this payment "
            "has neither — ask the customer to pay again",
        )

    def _invoice_charge(self, invoice: dict[str, Any]) -> ProviderCharge:
        amount = _money(invoice.get("amount_due", invoice.get("total")), "the invoice amount")
        currency = str(require(invoice, "currency", "a currency")).upper()
        charge = invoice.get("charge")
        charge = charge if isinstance(charge, dict) else {}
        intent = invoice.get("payment_intent")
        charge_id = str(charge.get("id") or (intent if isinstance(intent, str) else "") or "")
        if invoice.get("status") == "paid":
            return ProviderCharge(
                charge_id or str(invoice.get("id")), amount, currency, "succeeded"
            )
        reason = str(charge.get("failure_message") or "the payment did not go through")
        return ProviderCharge(
            charge_id or str(invoice.get("id")), amount, currency, "failed", reason
        )

    def _intent_charge(self, intent: dict[str, Any]) -> ProviderCharge:
        amount = _money(intent.get("amount"), "the amount")
        currency = str(require(intent, "currency", "a currency")).upper()
        status = intent.get("status")
        if status == "succeeded":
            return ProviderCharge(str(intent.get("id")), amount, currency, "succeeded")
        if status == "processing":
            return ProviderCharge(str(intent.get("id")), amount, currency, "pending")
        error = intent.get("last_payment_error") or {}
        reason = str(error.get("message") or "the payment did not go through")
        return ProviderCharge(str(intent.get("id")), amount, currency, "failed", reason)

    def apply_credit(
        self,
        customer_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderCredit:
        # A negative balance transaction is a credit the next invoices use up.
        params = {
            "amount": -amount_minor,
            "currency": currency.lower(),
            "description": reason[:350],
            "metadata": {KEY_METADATA: idempotency_key},
        }
        answer = self.call(
            lambda: self.api.customers.balance_transactions.create(
                customer_id, params, self.options(idempotency_key)
            )
        )
        return ProviderCredit(
            id=str(require(answer, "id", "a balance transaction id")),
            amount_minor=-_money(answer.get("amount"), "the credited amount"),
            currency=str(answer.get("currency") or currency).upper(),
        )

    def delete_customer(self, customer_id: str) -> str:
        """Delete the customer at Stripe (an erasure, where the config says so): their
        personal details go, and Stripe cancels their subscriptions; Stripe keeps the
        charges it must. A customer already gone counts as deleted."""
        try:
            answer = self.call(lambda: self.api.customers.delete(customer_id))
        except ProviderError as error:
            if error.kind == FailureKind.NOT_FOUND:
                return f"{customer_id} was already gone"
            raise
        if not answer.get("deleted"):
            raise ProviderError(FailureKind.INVALID, f"Stripe did not delete {customer_id}")
        return f"{customer_id} deleted"

    def payment_method_link(self, customer_id: str, *, return_url: str) -> str:
        params: dict[str, Any] = {"customer": customer_id}
        if return_url:
            params["return_url"] = return_url
        answer = self.call(lambda: self.api.billing_portal.sessions.create(params))
        return str(require(answer, "url", "a billing portal link"))

    # ---------------------------------------------------------- subscriptions

    def pause(
        self, subscription_id: str, *, until: datetime | None, idempotency_key: str
    ) -> ProviderSubscription:
        pause: dict[str, Any] = {"behavior": "void"}
        if until is not None:
            pause["resumes_at"] = int(until.timestamp())
        return self._update(subscription_id, {"pause_collection": pause}, idempotency_key)

    def resume(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription:
        return self._update(subscription_id, {"pause_collection": ""}, idempotency_key)

    def cancel(
        self, subscription_id: str, *, at_period_end: bool, reason: str, idempotency_key: str
    ) -> ProviderSubscription:
        if at_period_end:
            return self._update(
                subscription_id,
                {"cancel_at_period_end": True, "cancellation_details": {"comment": reason[:500]}},
                idempotency_key,
            )
        answer = self.call(
            lambda: self.api.subscriptions.cancel(
                subscription_id, {}, self.options(idempotency_key)
            )
        )
        return self.subscription(answer)

    def preview_plan_change(self, subscription_id: str, plan_code: str) -> ProrationPreview:
        current = self.call(lambda: self.api.subscriptions.retrieve(subscription_id))
        params = {
            "customer": require(current, "customer", "the subscription's customer"),
            "subscription": subscription_id,
            "subscription_details": {
                "items": [{"id": self._item_id(current), "price": plan_code}],
                "proration_behavior": "create_prorations",
            },
        }
        preview = self.call(lambda: self.api.invoices.create_preview(params))
        currency = str(require(preview, "currency", "a currency")).upper()
        lines = tuple(
            f"{line.get('description') or 'line'}: "
            f"{format_money(_money(line.get('amount'), 'a line amount'), currency)}"
            for line in ((preview.get("lines") or {}).get("data") or [])
        )
        return ProrationPreview(
            amount_due_minor=_money(
                preview.get("amount_due", preview.get("total")), "the amount due"
            ),
            currency=currency,
            lines=lines,
        )

    def change_plan(
        self, subscription_id: str, plan_code: str, *, idempotency_key: str
    ) -> ProviderSubscription:
        current = self.call(lambda: self.api.subscriptions.retrieve(subscription_id))
        params = {
            "items": [{"id": self._item_id(current), "price": plan_code}],
            "proration_behavior": "create_prorations",
        }
        return self._update(subscription_id, params, idempotency_key)

    def extend_trial(
        self, subscription_id: str, trial_end: datetime, *, idempotency_key: str
    ) -> ProviderSubscription:
        params = {"trial_end": int(trial_end.timestamp()), "proration_behavior": "none"}
        return self._update(subscription_id, params, idempotency_key)

    def _update(
        self, subscription_id: str, params: dict[str, Any], idempotency_key: str
    ) -> ProviderSubscription:
        answer = self.call(
            lambda: self.api.subscriptions.update(
                subscription_id, params, self.options(idempotency_key)
            )
        )
        return self.subscription(answer)

    def _item_id(self, subscription: dict[str, Any]) -> str:
        items = (subscription.get("items") or {}).get("data") or []
        if not items:
            raise ProviderError(
                FailureKind.INVALID, "Stripe answered with a subscription without items"
            )
        return str(require(items[0], "id", "a subscription item id"))

    def subscription(self, answer: dict[str, Any]) -> ProviderSubscription:
        """A Stripe subscription, in ours. Reads both the older and the current shapes."""
        items = (answer.get("items") or {}).get("data") or [{}]
        item = items[0] if isinstance(items[0], dict) else {}
        price = item.get("price") or item.get("plan") or answer.get("plan") or {}
        pause = answer.get("pause_collection") or None
        status = SUBSCRIPTION_STATUS.get(str(answer.get("status")), "grace")
        if pause and status == "active":
            status = "paused"
        return ProviderSubscription(
            id=str(require(answer, "id", "a subscription id")),
            status=status,
            plan_code=str(price.get("id")) if price.get("id") else None,
            amount_minor=price.get("unit_amount", price.get("amount")),
            current_period_end=from_timestamp(
                answer.get("current_period_end") or item.get("current_period_end")
            ),
            trial_end=from_timestamp(answer.get("trial_end")),
            cancel_at_period_end=bool(answer.get("cancel_at_period_end")),
            paused_until=from_timestamp((pause or {}).get("resumes_at")),
            ended_at=from_timestamp(answer.get("ended_at")),
        )

    # ---------------------------------------------------------------- reading

    def iterate(self, page: Callable[[dict[str, Any]], Any]) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint, a page at a time (`starting_after`)."""
        after: dict[str, Any] = {}
        while True:
            answer = self.call(lambda after=after: page(after))  # type: ignore[misc]
            data = answer.get("data") or []
            yield from (item for item in data if isinstance(item, dict))
            if not answer.get("has_more") or not data:
                return
            after = {"starting_after": data[-1].get("id")}
