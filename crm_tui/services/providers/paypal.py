"""PayPal, over its REST API (https://developer.paypal.com/api/rest/) with httpx.

Signing in: OAuth2 client credentials (`POST /v1/oauth2/token`). The token is
cached until shortly before it expires, and fetched again once if PayPal
answers 401 (a token revoked or expired early).

Idempotency: every POST that changes something carries the caller's key as
`PayPal-Request-Id`. PayPal documents that a request repeated with the same id
returns the latest status of the first one instead of acting again (refund
keys are kept 45 days). Refunds also carry the key as their `custom_id`, which
PayPal shows on the refund, on its order and in its transaction reports: that
is how `find_refund` recognises a refund later without sending anything.

Amounts: PayPal takes decimal strings ("10.00"; "1500" for JPY). They are
converted to and from crm-tui's integer minor units with `Decimal`, exactly,
never through floats.

Failures: every answer is read tolerantly and every failure becomes a
`ProviderError` whose message an agent can act on. Messages never contain the
client secret or the access token. When money may have moved (a timeout, a
dropped connection, a 5xx, an unreadable 2xx answer to a refund or a
collection) the kind is UNREACHABLE, so the caller's intent stays pending and
is settled later with the same key, never repeated blindly.

What PayPal cannot do (account credit, a payment-method link, a proration
preview, changing a trial, cancelling or resuming on a date) is refused with
NOT_SUPPORTED and a sentence saying what to do instead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from crm_tui.formatting import format_money, minor_exponent
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

# PayPal subscription status → ours (SubscriptionStatus values). APPROVAL_PENDING
# and APPROVED subscriptions collect nothing yet (the customer has not approved,
# or PayPal has not started billing): like a trial, live but not paying.
SUBSCRIPTION_STATUS = {
    "ACTIVE": "active",
    "SUSPENDED": "paused",
    "CANCELLED": "cancelled",
    "EXPIRED": "expired",
    "APPROVAL_PENDING": "trial",
    "APPROVED": "trial",
}

# Refund status → RefundStatus values; then the transaction reports' status codes
# (Success, Pending, Denied, reVersed).
REFUND_STATUS = {
    "COMPLETED": "succeeded",
    "PENDING": "pending",
    "FAILED": "failed",
    "CANCELLED": "failed",
    "S": "succeeded",
    "P": "pending",
    "D": "failed",
    "V": "failed",
}

# PayPal's subscription ids look like "I-BW452GLLEP1G".
SUBSCRIPTION_PREFIX = "I-"

# Currencies PayPal takes in whole units only (PayPal's "Currency codes" reference).
PAYPAL_WHOLE_UNITS = frozenset({"HUF", "JPY", "TWD"})

# PayPal's limits: at most 31 days per transaction search (pages of up to 500);
# refunds are allowed for 180 days after the payment.
SEARCH_WINDOW = timedelta(days=31)
REFUND_PERIOD = timedelta(days=180)
REFUND_EVENT_CODE = "T1107"  # "Payment refund, initiated by merchant"

# What the customer reads on a refund in PayPal (never the agent's internal reason).
CUSTOMER_REFUND_NOTE = "Refund from customer support"

# Refresh the token this long before PayPal says it expires (clock skew, slow calls).
TOKEN_MARGIN_SECONDS = 60

_DECIMAL = re.compile(r"-?(\d+|\d*\.\d+)")


def _clock() -> float:
    """Seconds on a monotonic clock (a function, so tests can move time forward)."""
    return time.monotonic()


# ----------------------------------------------------------------- reading answers


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _missing(what: str, *, money_moved: bool = False) -> ProviderError:
    """A 2xx answer without what we need. After a money-moving call the money may
    have moved, so the outcome is unknown (the intent stays pending), not refused."""
    if money_moved:
        return ProviderError(
            FailureKind.UNREACHABLE,
            f"PayPal answered without {what}: the change may have been made, so it stays "
            "pending and will be checked with PayPal (crm-tui reconcile)",
        )
    return ProviderError(FailureKind.INVALID, f"PayPal answered without {what}")


def _text(data: dict[str, Any], key: str, what: str, *, money_moved: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _missing(what, money_moved=money_moved)
    return value


def _link(data: dict[str, Any], rel: str) -> str:
    for link in _list(data.get("links")):
        if link.get("rel") == rel and isinstance(link.get("href"), str):
            return str(link["href"])
    return ""


def _moment(value: Any) -> datetime | None:
    """An RFC 3339 time from PayPal ("2026-05-01T10:00:00Z"), aware; None if absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    """PayPal wants seconds and a zone; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------ money


def to_paypal_money(amount_minor: int, currency: str) -> dict[str, str]:
    """8900, "USD" → {"value": "89.00", "currency_code": "USD"}; exact or refused."""
    code = currency.upper()
    value = Decimal(amount_minor) / (10 ** minor_exponent(code))
    places = 0 if code in PAYPAL_WHOLE_UNITS else 2
    sent = value.quantize(Decimal(1).scaleb(-places))
    if sent != value:
        raise ProviderError(
            FailureKind.INVALID,
            f"PayPal takes {code} in whole units only: {format_money(amount_minor, code)} "
            "cannot be sent — round the amount",
        )
    return {"value": f"{sent:f}", "currency_code": code}


def from_paypal_money(money: Any, what: str, *, money_moved: bool = False) -> tuple[int, str]:
    """{"value": "89.00", "currency_code": "USD"} → (8900, "USD"); the sign is kept."""
    money = _dict(money)
    value, code = money.get("value"), money.get("currency_code")
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise _missing(what, money_moved=money_moved)
    if not isinstance(code, str) or not code:
        raise _missing(f"the currency of {what}", money_moved=money_moved)
    minor = Decimal(value) * (10 ** minor_exponent(code))
    if minor != minor.to_integral_value():
        raise ProviderError(
            FailureKind.INVALID, f"PayPal answered with {what} finer than a cent: {value} {code}"
        )
    return int(minor), code.upper()


# ----------------------------------------------------------------------- errors

# PayPal's `issue` codes (in `details`) → what the agent is told. Declines and
# "cannot pay" issues come from PayPal's payment APIs (orders and subscriptions).
ISSUES: dict[str, tuple[FailureKind, str]] = {
    "CAPTURE_FULLY_REFUNDED": (
        FailureKind.ALREADY_REFUNDED,
        "the payment is already fully refunded at PayPal",
    ),
    "REFUND_AMOUNT_EXCEEDED": (
        FailureKind.INVALID,
        "PayPal refused: the refund is more than what remains of the payment at PayPal "
        "(refunds made in PayPal directly count too) — refund less",
    ),
    "REFUND_TIME_LIMIT_EXCEEDED": (
        FailureKind.INVALID,
        "PayPal's time limit for refunding this payment has passed — pay the customer back "
        "another way",
    ),
    "REFUND_FAILED_INSUFFICIENT_FUNDS": (
        FailureKind.INSUFFICIENT_FUNDS,
        "the business's PayPal balance (and linked bank) cannot fund this refund — add funds "
        "in PayPal, then refund again",
    ),
    "PENDING_CAPTURE": (
        FailureKind.INVALID,
        "the payment is still pending at PayPal (an eCheck, for example) — refund it once it "
        "has completed",
    ),
    "TRANSACTION_DISPUTED": (
        FailureKind.INVALID,
        "the payment has an open dispute at PayPal — resolve it in PayPal's Resolution Center",
    ),
    "REFUND_NOT_PERMITTED_DUE_TO_CHARGEBACK": (
        FailureKind.INVALID,
        "the payment was charged back — PayPal allows no refund on it",
    ),
    "INSTRUMENT_DECLINED": (
        FailureKind.DECLINED,
        "declined: the customer's bank or card issuer refused the payment — ask them to "
        "update the funding source in their PayPal account",
    ),
    "PAYER_CANNOT_PAY": (
        FailureKind.DECLINED,
        "declined: PayPal says this customer cannot pay this way — ask them to add or fix a "
        "funding source in their PayPal account",
    ),
    "TRANSACTION_REFUSED": (FailureKind.DECLINED, "declined: PayPal refused the payment"),
    "INSUFFICIENT_FUNDS": (
        FailureKind.INSUFFICIENT_FUNDS,
        "insufficient funds on the customer's PayPal funding source",
    ),
    "PAYER_ACCOUNT_RESTRICTED": (
        FailureKind.DECLINED,
        "declined: the customer's PayPal account is restricted",
    ),
    "SUBSCRIBER_ACCOUNT_LOCKED": (
        FailureKind.DECLINED,
        "declined: the customer's PayPal account is locked",
    ),
    "SUBSCRIBER_ACCOUNT_CLOSED": (
        FailureKind.DECLINED,
        "declined: the customer's PayPal account is closed",
    ),
    "SUBSCRIBER_ACCOUNT_RESTRICTED": (
        FailureKind.DECLINED,
        "declined: the customer's PayPal account is restricted",
    ),
}

BAD_CREDENTIALS = (
    "PayPal refused the client id and secret — check them with crm-tui secrets set paypal"
)


def translate(response: httpx.Response, subject: str) -> ProviderError:
    """A PayPal error answer, in words an agent can act on. `subject` names what
    was asked about ("payment 5O190127TN364715T"), for a 404."""
    body = _json(response)
    details = _list(body.get("details"))
    issue = str(details[0].get("issue") or "") if details else ""
    said = str((details[0].get("description") if details else "") or body.get("message") or "")
    debug = f" (PayPal debug id {body['debug_id']})" if body.get("debug_id") else ""
    status = response.status_code
    if issue in ISSUES:
        kind, message = ISSUES[issue]
        return ProviderError(kind, message)
    if status == 401:
        return ProviderError(FailureKind.NOT_CONFIGURED, BAD_CREDENTIALS)
    if status == 403:
        return ProviderError(
            FailureKind.NOT_CONFIGURED,
            "PayPal does not allow these credentials to do this — enable the feature for the "
            "app in the PayPal developer dashboard",
        )
    if status == 404:
        return ProviderError(FailureKind.NOT_FOUND, f"PayPal has no {subject}")
    if status == 409:  # PREVIOUS_REQUEST_IN_PROGRESS: the first attempt is still running
        return ProviderError(
            FailureKind.UNREACHABLE,
            "PayPal is still working on an earlier attempt of this request; the outcome is "
            "not known yet",
        )
    if status == 429:
        after = response.headers.get("Retry-After", "").strip()
        wait = f"try again in {after} s" if after else "try again in a moment"
        return ProviderError(FailureKind.RATE_LIMITED, f"PayPal is rate limiting requests; {wait}")
    if status >= 500:
        return ProviderError(
            FailureKind.UNREACHABLE,
            f"PayPal had an error (HTTP {status}); the outcome is not known{debug}",
        )
    reason = f"{said} ({issue})" if issue and said else said or issue or f"HTTP {status}"
    return ProviderError(FailureKind.INVALID, f"PayPal refused: {reason}{debug}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        return _dict(response.json())
    except ValueError:
        return {}


# --------------------------------------------------------------------- provider


class PayPalProvider:
    """The PaymentProvider for PayPal, plus the reads `crm-tui sync paypal` needs."""

    name = "paypal"

    def __init__(
        self,
        api_base: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self._credentials = (client_id, client_secret)
        self._token = ""
        self._token_good_until = 0.0  # on _clock()
        self.http = httpx.Client(
            base_url=self.api_base,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:  # never the secret or the token
        return f"PayPalProvider({self.api_base!r})"

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ calls

    def call(
        self,
        method: str,
        path: str,
        subject: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str = "",
        money_moved: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """One API call: (status, JSON body). A 401 fetches a new token and tries once
        more (safe: PayPal acted on nothing, and the request id is the same).

        What may pass on a second try — a timeout, a reset or dropped connection, a
        5xx, a 409 "previous request in progress", a 429 asking for a short wait — is
        sent again (providers/base.py's policy), but only when sending it twice is
        safe: a read, or a write carrying its PayPal-Request-Id, which PayPal answers
        with the first outcome. Then the last error, in words."""
        headers = {"Prefer": "return=representation"} if method == "POST" else {}
        if idempotency_key:
            headers["PayPal-Request-Id"] = idempotency_key
        repeatable = method == "GET" or bool(idempotency_key)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self._signed_in(method, path, headers, json=body, params=params)
            except ProviderError as error:
                wait = retry_wait(
                    attempt, transient=error.outcome_unknown, rate_limited=False, retry_after=None
                )
                if not repeatable or wait is None:
                    raise
                self.sleep(wait)
                continue
            if response.is_success:
                return response.status_code, self._answer(response, money_moved)
            wait = retry_wait(
                attempt,
                transient=response.status_code >= 500 or response.status_code == 409,
                rate_limited=response.status_code == 429,
                retry_after=response.headers.get("Retry-After"),
            )
            if not repeatable or wait is None:
                raise translate(response, subject)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _signed_in(
        self, method: str, path: str, headers: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        response = self._authorized(method, path, headers, **kwargs)
        if response.status_code == 401:
            self._token = ""  # revoked or expired early: sign in again, once
            response = self._authorized(method, path, headers, **kwargs)
        return response

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)  # a method, so that tests can take the waits out

    def _authorized(
        self, method: str, path: str, headers: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        bearer = {"Authorization": f"Bearer {self._access_token()}"}
        return self._send(method, path, headers={**headers, **bearer}, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request. Errors are raised `from None`: the httpx error holds the
        request, Authorization header included, and must not travel further."""
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ProviderError(
                FailureKind.UNREACHABLE, "PayPal did not answer in time; the outcome is not known"
            ) from None
        except httpx.HTTPError as error:
            # A refused connection, a dropped one: PayPal may or may not have acted.
            raise ProviderError(
                FailureKind.UNREACHABLE,
                f"PayPal could not be reached or did not answer ({type(error).__name__}); "
                "the outcome is not known",
            ) from None

    def _answer(self, response: httpx.Response, money_moved: bool) -> dict[str, Any]:
        if not response.content:  # 202 Accepted, 204 No Content
            return {}
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _missing("a readable answer", money_moved=money_moved)
        return data

    def _access_token(self) -> str:
        if self._token and _clock() < self._token_good_until:
            return self._token
        response = self._send(
            "POST",
            "/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=self._credentials,
        )
        if response.status_code in (400, 401, 403):  # invalid_client and its kin
            raise ProviderError(FailureKind.NOT_CONFIGURED, BAD_CREDENTIALS)
        if not response.is_success:
            raise translate(response, "sign-in")
        answer = _json(response)
        token = _text(answer, "access_token", "an access token")
        lifetime = answer.get("expires_in")
        lifetime = lifetime if isinstance(lifetime, int | float) else 0
        self._token = token
        self._token_good_until = _clock() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)
        return token

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
        # PayPal shows `note_to_payer` to the customer; the agent's reason is an
        # internal note (kept in our activity), so the customer gets a neutral line.
        body: dict[str, Any] = {
            "amount": to_paypal_money(amount_minor, currency),
            "custom_id": idempotency_key[:127],
            "note_to_payer": CUSTOMER_REFUND_NOTE,
        }
        _, answer = self.call(
            "POST",
            f"/v2/payments/captures/{payment_id}/refund",
            f"payment {payment_id}",
            body=body,
            idempotency_key=idempotency_key,
            money_moved=True,
        )
        return self._refund(answer, money_moved=True)

    def find_refund(self, payment_id: str, idempotency_key: str) -> ProviderRefund | None:
        """The refund made with this key, read from PayPal; nothing is sent again.

        PayPal lists no refunds by request id, so they are found by the key kept in
        their `custom_id`: in the capture's order (`purchase_units[].payments.refunds`)
        when the payment came from an order, else in the transaction reports, which
        lag up to three hours. Replaying the POST would also find an earlier refund,
        but it would *make* one that never reached PayPal — days later, unasked.

        None means PayPal certainly has no such refund: the capture shows no refund
        at all, its order lists them all without this key, or the reports are newer
        than the capture's last change and still lack it. When PayPal cannot tell
        yet, a ProviderError says so and the intent stays pending.
        """
        custom_id = idempotency_key[:127]
        subject = f"payment {payment_id}"
        _, capture = self.call("GET", f"/v2/payments/captures/{payment_id}", subject)
        _text(capture, "status", "the payment's status")  # without it nothing can be told
        related = _dict(_dict(capture.get("supplementary_data")).get("related_ids"))
        order_id = related.get("order_id")
        if isinstance(order_id, str) and order_id:
            return self._refund_in_order(order_id, custom_id)
        return self._refund_in_reports(capture, payment_id, custom_id)

    def _refund_in_order(self, order_id: str, custom_id: str) -> ProviderRefund | None:
        """The order lists every refund of its captures, pending ones too."""
        _, order = self.call("GET", f"/v2/checkout/orders/{order_id}", f"order {order_id}")
        for unit in _list(order.get("purchase_units")):
            for refund in _list(_dict(unit.get("payments")).get("refunds")):
                if refund.get("custom_id") == custom_id:
                    return self._refund(refund)
        return None

    def _refund_in_reports(
        self, capture: dict[str, Any], capture_id: str, custom_id: str
    ) -> ProviderRefund | None:
        """A payment without an order (a subscription's, say): its refunds are only in
        the transaction reports, which PayPal refreshes up to three hours late."""
        now = datetime.now(UTC)
        since = _moment(capture.get("create_time")) or now - REFUND_PERIOD
        reports_as_of: datetime | None = None
        for page in self._search(since, now, {"transaction_type": REFUND_EVENT_CODE}):
            if page.refreshed and (reports_as_of is None or page.refreshed < reports_as_of):
                reports_as_of = page.refreshed
            for item in page.items:
                info = _dict(item.get("transaction_info"))
                if info.get("custom_field") == custom_id:
                    return self._reported_refund(info)
        if capture.get("status") not in ("PARTIALLY_REFUNDED", "REFUNDED"):
            return None  # PayPal shows no refund on this payment at all
        last_change = _moment(capture.get("update_time"))
        if reports_as_of and last_change and reports_as_of >= last_change:
            return None  # the reports hold every refund made so far, and not this one
        raise ProviderError(
            FailureKind.UNREACHABLE,
            f"payment {capture_id} was refunded at PayPal after its reports were last "
            "refreshed (they run up to three hours behind), so whether this refund was made "
            "cannot be told yet; it stays pending — run crm-tui reconcile again later",
        )

    def _refund(self, answer: dict[str, Any], *, money_moved: bool = False) -> ProviderRefund:
        amount, currency = from_paypal_money(
            answer.get("amount"), "the refunded amount", money_moved=money_moved
        )
        status = _text(answer, "status", "the refund's status", money_moved=money_moved)
        return ProviderRefund(
            id=_text(answer, "id", "a refund id", money_moved=money_moved),
            amount_minor=amount,
            currency=currency,
            status=REFUND_STATUS.get(status, "pending"),
        )

    def _reported_refund(self, info: dict[str, Any]) -> ProviderRefund:
        amount, currency = from_paypal_money(info.get("transaction_amount"), "the refund amount")
        return ProviderRefund(
            id=_text(info, "transaction_id", "a refund id"),
            amount_minor=abs(amount),  # refunds are reported as negative amounts
            currency=currency,
            status=REFUND_STATUS.get(str(info.get("transaction_status")), "pending"),
        )

    # ------------------------------------------------------------------ money

    def retry_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderCharge:
        """Collect a subscription's outstanding balance (`payment_id` is the subscription).

        A retry with the same key after a lost answer finds nothing outstanding any
        more; it then sends the last payment's amount, so PayPal can replay the
        first answer for that request id (or refuse with ZERO_OUTSTANDING_BALANCE).
        """
        if not payment_id.startswith(SUBSCRIPTION_PREFIX):
            raise ProviderError(
                FailureKind.NOT_SUPPORTED,
                f"PayPal collects a failed payment again only through its subscription "
                f"(an {SUBSCRIPTION_PREFIX}… id), and {payment_id} is not one — ask the "
                "customer to pay again in PayPal",
            )
        subscription = self.get_subscription(payment_id)
        billing = _dict(subscription.get("billing_info"))
        owed = _dict(billing.get("outstanding_balance"))
        amount, currency = from_paypal_money(owed, "the outstanding balance")
        if amount <= 0:
            last = _dict(_dict(billing.get("last_payment")).get("amount"))
            if not last:
                raise ProviderError(
                    FailureKind.INVALID,
                    f"PayPal shows nothing outstanding on subscription {payment_id}: there is "
                    "nothing to collect",
                )
            owed = last
            amount, currency = from_paypal_money(owed, "the last payment")
        body = {
            "note": "Collecting the outstanding balance, as asked by support",
            "capture_type": "OUTSTANDING_BALANCE",
            "amount": owed,
        }
        try:
            status, answer = self.call(
                "POST",
                f"/v1/billing/subscriptions/{payment_id}/capture",
                f"subscription {payment_id}",
                body=body,
                idempotency_key=idempotency_key,
                money_moved=True,
            )
        except ProviderError as error:
            if error.kind in (FailureKind.DECLINED, FailureKind.INSUFFICIENT_FUNDS):
                return ProviderCharge(payment_id, amount, currency, "failed", error.message)
            raise
        if status == 202:  # accepted: PayPal collects it shortly
            return ProviderCharge(payment_id, amount, currency, "pending")
        return self._charge(answer)

    def _charge(self, transaction: dict[str, Any]) -> ProviderCharge:
        gross = _dict(transaction.get("amount_with_breakdown")).get("gross_amount")
        amount, currency = from_paypal_money(gross, "the collected amount", money_moved=True)
        charge_id = _text(transaction, "id", "a transaction id", money_moved=True)
        status = _text(transaction, "status", "the payment's status", money_moved=True)
        if status == "COMPLETED":
            return ProviderCharge(charge_id, amount, currency, "succeeded")
        if status == "PENDING":
            return ProviderCharge(charge_id, amount, currency, "pending")
        reason = str(_dict(transaction.get("status_details")).get("reason") or "").lower()
        why = f"PayPal {status.lower()} the payment" + (f" ({reason})" if reason else "")
        return ProviderCharge(charge_id, amount, currency, "failed", why)

    def apply_credit(
        self,
        customer_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderCredit:
        raise ProviderError(
            FailureKind.NOT_SUPPORTED,
            "PayPal has no account credit: refund part of a payment, or give credit on a "
            "manual invoice",
        )

    def payment_method_link(self, customer_id: str, *, return_url: str) -> str:
        raise ProviderError(
            FailureKind.NOT_SUPPORTED,
            "PayPal customers update their payment method in their own PayPal account; "
            "there is no link to send — ask them to log in to PayPal and change it there",
        )

    # ---------------------------------------------------------- subscriptions

    def pause(
        self, subscription_id: str, *, until: datetime | None, idempotency_key: str
    ) -> ProviderSubscription:
        if until is not None:
            raise ProviderError(
                FailureKind.NOT_SUPPORTED,
                "PayPal cannot resume a subscription on a date: pause it with no end date "
                "and resume it by hand when it is due",
            )
        return self._act(subscription_id, "suspend", "Paused by support", idempotency_key)

    def resume(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription:
        return self._act(subscription_id, "activate", "Resumed by support", idempotency_key)

    def cancel(
        self, subscription_id: str, *, at_period_end: bool, reason: str, idempotency_key: str
    ) -> ProviderSubscription:
        if at_period_end:
            raise ProviderError(
                FailureKind.NOT_SUPPORTED,
                "PayPal cancels a subscription at once and cannot cancel at the end of the "
                "period: cancel it now, or cancel it on its last day",
            )
        # The cancellation reason shows in the subscriber's PayPal account: a neutral
        # line, not the agent's internal reason (kept in our activity).
        return self._act(subscription_id, "cancel", "Cancelled by support", idempotency_key)

    def preview_plan_change(self, subscription_id: str, plan_code: str) -> ProrationPreview:
        raise ProviderError(
            FailureKind.NOT_SUPPORTED,
            "PayPal shows no proration preview; the new plan applies from the next billing "
            "cycle once the customer approves it",
        )

    def change_plan(
        self, subscription_id: str, plan_code: str, *, idempotency_key: str
    ) -> ProviderSubscription:
        """Ask PayPal to switch plans. The customer must approve the switch at the
        `approval_url` PayPal gives; until then the plan stays what it was."""
        _, answer = self.call(
            "POST",
            f"/v1/billing/subscriptions/{subscription_id}/revise",
            f"subscription {subscription_id}",
            body={"plan_id": plan_code},
            idempotency_key=idempotency_key,
        )
        approval_url = _link(answer, "approve")
        current = self._after_change(subscription_id, status="")
        return ProviderSubscription(
            id=current.id,
            status=current.status,
            plan_code=current.plan_code,
            current_period_end=current.current_period_end,
            approval_url=approval_url,
        )

    def extend_trial(
        self, subscription_id: str, trial_end: datetime, *, idempotency_key: str
    ) -> ProviderSubscription:
        raise ProviderError(
            FailureKind.NOT_SUPPORTED,
            "PayPal cannot change the trial of a running subscription: to give free time, "
            "refund the next payment, or pause the subscription and resume it later",
        )

    def _act(
        self, subscription_id: str, action: str, reason: str, idempotency_key: str
    ) -> ProviderSubscription:
        """suspend / activate / cancel (PayPal answers 204), then the subscription."""
        self.call(
            "POST",
            f"/v1/billing/subscriptions/{subscription_id}/{action}",
            f"subscription {subscription_id}",
            body={"reason": reason},
            idempotency_key=idempotency_key,
        )
        expected = {"suspend": "paused", "activate": "active", "cancel": "cancelled"}[action]
        return self._after_change(subscription_id, status=expected)

    def _after_change(self, subscription_id: str, *, status: str) -> ProviderSubscription:
        """The subscription as PayPal holds it now. The change itself succeeded, so a
        failed read must not undo it: then only the expected status is reported."""
        try:
            return self.subscription(self.get_subscription(subscription_id))
        except ProviderError:
            return ProviderSubscription(subscription_id, status)

    def subscription(self, answer: dict[str, Any]) -> ProviderSubscription:
        """A PayPal subscription, in ours."""
        paypal_status = _text(answer, "status", "the subscription's status")
        billing = _dict(answer.get("billing_info"))
        status = SUBSCRIPTION_STATUS.get(paypal_status, "grace")
        failed = billing.get("failed_payments_count")
        if status == "active" and isinstance(failed, int) and failed > 0:
            status = "grace"  # still active, but its last payments failed
        ended = paypal_status in ("CANCELLED", "EXPIRED")
        plan_id = answer.get("plan_id")
        return ProviderSubscription(
            id=_text(answer, "id", "a subscription id"),
            status=status,
            plan_code=plan_id if isinstance(plan_id, str) and plan_id else None,
            current_period_end=_moment(billing.get("next_billing_time")),
            cancel_at_period_end=False,  # PayPal has no such thing
            ended_at=_moment(answer.get("status_update_time")) if ended else None,
        )

    # ---------------------------------------------------------------- reading

    def get_subscription(self, subscription_id: str) -> dict[str, Any]:
        _, answer = self.call(
            "GET",
            f"/v1/billing/subscriptions/{subscription_id}",
            f"subscription {subscription_id}",
        )
        return answer

    def get_plan(self, plan_id: str) -> dict[str, Any]:
        _, answer = self.call("GET", f"/v1/billing/plans/{plan_id}", f"plan {plan_id}")
        return answer

    def iter_transactions(
        self, start: datetime, end: datetime, page_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every transaction between start and end (PayPal's transaction search),
        as PayPal reports it (`transaction_info`, `payer_info`, ...)."""
        for page in self._search(start, end, {"fields": "all"}, page_size):
            yield from page.items

    def _search(
        self, start: datetime, end: datetime, filters: dict[str, Any], page_size: int = 500
    ) -> Iterator[_Page]:
        """Transaction search, every page, 31 days (PayPal's limit) at a time.

        Windows meet at their edges, so a transaction at an edge is yielded once:
        the ids of the window before are remembered."""
        seen: set[str] = set()  # the ids of the window before
        window_start = start
        while window_start < end:
            window_end = min(window_start + SEARCH_WINDOW, end)
            this_window: set[str] = set()
            for page in self._search_window(window_start, window_end, filters, page_size):
                new = [item for item in page.items if _transaction_id(item) not in seen]
                this_window.update(_transaction_id(item) for item in new)
                yield _Page(new, page.refreshed)
            seen, window_start = this_window, window_end

    def _search_window(
        self, start: datetime, end: datetime, filters: dict[str, Any], page_size: int
    ) -> Iterator[_Page]:
        page = 1
        while True:
            params = {
                **filters,
                "start_date": _rfc3339(start),
                "end_date": _rfc3339(end),
                "page_size": max(1, min(500, page_size)),
                "page": page,
            }
            _, answer = self.call(
                "GET", "/v1/reporting/transactions", "transaction report", params=params
            )
            refreshed = _moment(answer.get("last_refreshed_datetime"))
            yield _Page(_list(answer.get("transaction_details")), refreshed)
            total_pages = answer.get("total_pages")
            if not isinstance(total_pages, int) or page >= total_pages:
                return
            page += 1


def _transaction_id(item: dict[str, Any]) -> str:
    return str(_dict(item.get("transaction_info")).get("transaction_id") or "")


@dataclass(frozen=True)
class _Page:
    """One page of a transaction search, and how fresh PayPal's report data was."""

    items: list[dict[str, Any]]
    refreshed: datetime | None
