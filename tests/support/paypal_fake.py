"""A stateful PayPal REST server for the tests, over real HTTP on 127.0.0.1.

PayPal has no public test server (its sandbox needs an account and the
internet), so this fake follows what PayPal publishes: the OpenAPI files of
github.com/paypal/paypal-rest-api-specifications (payments v2, checkout orders
v2, billing subscriptions v1, reporting transactions v1) and the REST guides
on authentication, idempotency and rate limiting. What it serves:

- `POST /v1/oauth2/token`: client credentials (HTTP Basic), tokens that expire;
  a wrong id or secret answers 401 `invalid_client`. Every other call needs a
  live bearer token, else 401 AUTHENTICATION_FAILURE.
- Captures, their refunds and their orders: `GET /v2/payments/captures/{id}`,
  `POST .../refund` (full or partial; 201 with the minimal answer unless
  `Prefer: return=representation`), `GET /v2/payments/refunds/{id}`,
  `GET /v2/checkout/orders/{id}` (its refunds, with their `custom_id`). Refused
  as PayPal documents: CAPTURE_FULLY_REFUNDED, REFUND_AMOUNT_EXCEEDED,
  REFUND_CAPTURE_CURRENCY_MISMATCH, DECIMALS_NOT_SUPPORTED, ...
- Subscriptions: GET, and POST suspend / activate / cancel (204, with the
  documented SUBSCRIPTION_STATUS_INVALID), revise (an `approve` link; the new
  plan applies once `approve_revision` is called, as when the customer agrees)
  and capture of the outstanding balance (ZERO_OUTSTANDING_BALANCE, ...; a
  subscription seeded with `decline_issue` answers 422 with that issue).
- Plans: `GET /v1/billing/plans/{id}` (billing cycles with their fixed price).
- `GET /v1/reporting/transactions`: 31 days at most per request, pages,
  `transaction_type` filter, and a report lag (`report_lag`) like PayPal's.
  Payments seeded with a payer (`add_capture(..., payer=...)`, `pay_subscription`)
  appear there as PayPal reports them: T0006 checkout payments and T0002
  subscription payments (`paypal_reference_id` the subscription, type SUB), with
  `payer_info`; refunds appear as T1107 lines pointing at their payment.
- Idempotency: a POST repeated with the same `PayPal-Request-Id` on the same
  path returns the latest state of what the first one did, and acts once.
  Only successes are kept, so a retry after an error or a 5xx acts again.
- Fault switches: `fail_next` (a 5xx or any status), `rate_limit_next` (429
  RATE_LIMIT_REACHED, with Retry-After), `drop_next` (the request is carried
  out, then the connection closes without an answer), `answer_next` (a given
  answer, for garbled or incomplete bodies).

Amounts are kept in crm-tui's minor units (`add_capture(2500, "USD")` is
$25.00) and sent as PayPal does: decimal strings, whole units for HUF, JPY, TWD.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from crm_tui.formatting import _ZERO_DECIMAL

CLIENT_ID = "AYcrmTuiFakeClientId0123456789"
CLIENT_SECRET = "EKcrmTuiFakeSecret-never-in-messages"
TOKEN_LIFETIME = 32400  # seconds: PayPal's usual nine hours
WHOLE_UNITS = frozenset({"HUF", "JPY", "TWD"})  # PayPal takes these without decimals
MAX_SEARCH_RANGE = timedelta(days=31)
DECIMAL_TEXT = re.compile(r"-?(\d+|\d*\.\d+)")

Body = dict[str, Any] | None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id(prefix: str = "", length: int = 17) -> str:
    return prefix + uuid.uuid4().hex.upper()[:length]


# ------------------------------------------------------------------------ money


def _exponent(currency: str) -> int:
    return 0 if currency in _ZERO_DECIMAL else 2


def money(amount_minor: int, currency: str) -> dict[str, str]:
    """PayPal's money object for an amount in crm-tui's minor units."""
    value = Decimal(amount_minor) / (10 ** _exponent(currency))
    places = 0 if currency in WHOLE_UNITS else 2
    return {"currency_code": currency, "value": f"{value.quantize(Decimal(1).scaleb(-places)):f}"}


def _parse_money(data: Any, field_name: str) -> tuple[int, str]:
    """A money object from a request, in minor units, or the PayPal error for it."""
    if not isinstance(data, dict):
        raise PayPalError.invalid_request(field_name, "MISSING_REQUIRED_PARAMETER")
    value, currency = data.get("value"), data.get("currency_code")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise PayPalError.unprocessable("INVALID_CURRENCY_CODE", "Currency code is invalid.")
    if not isinstance(value, str) or not DECIMAL_TEXT.fullmatch(value):
        raise PayPalError.invalid_request(f"{field_name}/value", "INVALID_PARAMETER_SYNTAX")
    amount = Decimal(value)  # the pattern above makes this safe
    decimals = -int(amount.as_tuple().exponent)
    if currency in WHOLE_UNITS and decimals > 0:
        raise PayPalError.unprocessable(
            "DECIMALS_NOT_SUPPORTED", "Currency does not support decimals."
        )
    if decimals > 2:
        raise PayPalError.unprocessable(
            "DECIMAL_PRECISION", "The value of the field should not have more than 2 decimals."
        )
    minor = amount * (10 ** _exponent(currency))
    if minor <= 0:
        raise PayPalError.unprocessable("CANNOT_BE_ZERO_OR_NEGATIVE", "Must be greater than zero.")
    return int(minor), currency


# ----------------------------------------------------------------------- errors


class PayPalError(Exception):
    """An error answer, shaped as PayPal's: name, message, debug_id, details, links."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = {**body, "debug_id": uuid.uuid4().hex[:13]}

    @classmethod
    def of(
        cls, status: int, name: str, message: str, issue: str = "", description: str = ""
    ) -> PayPalError:
        body: dict[str, Any] = {"name": name, "message": message}
        if issue:
            body["details"] = [{"issue": issue, "description": description or issue}]
        body["links"] = [
            {
                "href": f"https://developer.paypal.com/api/rest/reference/orders/v2/errors/#{issue}",
                "rel": "information_link",
                "method": "GET",
            }
        ]
        return cls(status, body)

    @classmethod
    def unprocessable(cls, issue: str, description: str) -> PayPalError:
        return cls.of(
            422,
            "UNPROCESSABLE_ENTITY",
            "The requested action could not be performed, semantically incorrect, or failed "
            "business validation.",
            issue,
            description,
        )

    @classmethod
    def invalid_request(cls, field_name: str, issue: str) -> PayPalError:
        error = cls.of(
            400,
            "INVALID_REQUEST",
            "Request is not well-formed, syntactically incorrect, or violates schema.",
            issue,
        )
        error.body["details"][0]["field"] = f"/{field_name}"
        return error

    @classmethod
    def not_found(cls) -> PayPalError:
        return cls.of(
            404,
            "RESOURCE_NOT_FOUND",
            "The specified resource does not exist.",
            "INVALID_RESOURCE_ID",
            "Specified resource ID does not exist. Please check the resource ID and try again.",
        )

    @classmethod
    def unauthorized(cls) -> PayPalError:
        return cls.of(
            401,
            "AUTHENTICATION_FAILURE",
            "Authentication failed due to invalid authentication credentials or a missing "
            "Authorization header.",
        )

    @classmethod
    def server_error(cls, status: int) -> PayPalError:
        if status == 503:
            return cls.of(503, "SERVICE_UNAVAILABLE", "Service Unavailable.")
        return cls.of(status, "INTERNAL_SERVER_ERROR", "An internal server error has occurred.")


# ------------------------------------------------------------------------ state


@dataclass(frozen=True)
class Payer:
    """A PayPal account holder, as `payer_info` and `subscriber` show them."""

    given_name: str = "Pat"
    surname: str = "Payer"
    email: str = "pat@example.com"
    payer_id: str = "PAYER12345678"

    def info(self) -> dict[str, Any]:
        """The `payer_info` of a transaction report line."""
        return {
            "account_id": self.payer_id,
            "email_address": self.email,
            "address_status": "Y",
            "payer_status": "Y",
            "payer_name": {
                "given_name": self.given_name,
                "surname": self.surname,
                "alternate_full_name": f"{self.given_name} {self.surname}".strip(),
            },
            "country_code": "US",
        }


@dataclass
class Plan:
    id: str
    name: str
    amount_minor: int
    currency: str
    interval_unit: str  # DAY, WEEK, MONTH, YEAR
    interval_count: int
    status: str = "ACTIVE"


@dataclass
class Refund:
    id: str
    capture_id: str
    amount_minor: int
    currency: str
    status: str  # COMPLETED, PENDING, FAILED, CANCELLED
    note_to_payer: str
    custom_id: str
    create_time: datetime


@dataclass
class Capture:
    id: str
    amount_minor: int
    currency: str
    order_id: str  # "" for a payment outside an order (a subscription's)
    create_time: datetime
    update_time: datetime
    refund_ids: list[str] = field(default_factory=list)


@dataclass
class Subscription:
    id: str
    plan_id: str
    status: str  # APPROVAL_PENDING, APPROVED, ACTIVE, SUSPENDED, CANCELLED, EXPIRED
    currency: str
    outstanding_minor: int
    next_billing_time: datetime
    decline_issue: str  # when set, a capture answers 422 with this issue
    failed_payments_count: int
    status_update_time: datetime
    status_change_note: str = ""
    pending_plan_id: str = ""  # a revision waiting for the customer's approval
    last_payment: tuple[int, datetime] | None = None
    create_time: datetime = field(default_factory=_now)
    subscriber: Payer = field(default_factory=Payer)
    last_failed_time: datetime = field(default_factory=lambda: _now() - timedelta(days=3))


@dataclass
class Fault:
    kind: str  # status, drop, answer, slow
    path: str  # applies to the next request whose path contains this...
    method: str  # ...and has this method ("" for any)
    status: int = 500
    body: Body = None
    headers: dict[str, str] = field(default_factory=dict)
    process: bool = False  # carry the request out first (drop, slow; answer if asked)
    delay: float = 0.0  # slow: seconds before the answer


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Reply:
    status: int
    body: Body = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


# A handler answers (status, render): render() gives the body as it is *now*, so
# an idempotent replay shows the latest state of what the first request did.
Handled = tuple[int, Callable[[], Body]]


class PayPalFake:
    """The running server's state and switches. `url`, `client_id`, `client_secret`."""

    def __init__(self) -> None:
        self.url = ""
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.token_lifetime = TOKEN_LIFETIME
            self.tokens: dict[str, datetime] = {}  # live token → when it expires
            self.issued_tokens: list[str] = []  # every token ever handed out
            self.unauthorized = 0  # API calls refused for a missing or dead token
            self.captures: dict[str, Capture] = {}
            self.refunds: dict[str, Refund] = {}
            self.subscriptions: dict[str, Subscription] = {}
            self.plans: dict[str, Plan] = {}
            self.transactions: list[dict[str, Any]] = []
            self.refund_status = "COMPLETED"  # what new refunds become
            self.report_lag = timedelta(0)  # PayPal's reports run up to 3 hours late
            self.requests: list[Recorded] = []
            self._faults: list[Fault] = []
            self._idempotent: dict[tuple[str, str], Handled] = {}

    # ------------------------------------------------------------- switches

    def fail_next(self, status: int = 500, *, path: str = "", method: str = "") -> None:
        """The next API request (whose path contains `path`) answers this error and
        does nothing else."""
        body = PayPalError.server_error(status).body if status >= 500 else None
        with self.lock:
            self._faults.append(Fault("status", path, method, status, body))

    def rate_limit_next(
        self, retry_after: int | None = None, *, path: str = "", method: str = ""
    ) -> None:
        body = {
            "name": "RATE_LIMIT_REACHED",
            "message": "Too many requests. Blocked due to rate limiting.",
            "debug_id": uuid.uuid4().hex[:13],
        }
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self.lock:
            self._faults.append(Fault("status", path, method, 429, body, headers))

    def drop_next(self, *, path: str = "", method: str = "") -> None:
        """Carry out the next request, then close the connection without answering."""
        with self.lock:
            self._faults.append(Fault("drop", path, method, process=True))

    def slow_next(self, seconds: float, *, path: str = "", method: str = "") -> None:
        """Carry out the next request, then wait this long before answering."""
        with self.lock:
            self._faults.append(Fault("slow", path, method, process=True, delay=seconds))

    def answer_next(
        self,
        status: int,
        body: Body,
        *,
        path: str = "",
        method: str = "",
        process: bool = False,
    ) -> None:
        """Answer the next request with this body (carried out first if `process`)."""
        with self.lock:
            self._faults.append(Fault("answer", path, method, status, body, process=process))

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as when PayPal revokes them)."""
        with self.lock:
            self.tokens.clear()

    # -------------------------------------------------------------- seeding

    def add_capture(
        self,
        amount_minor: int,
        currency: str = "USD",
        *,
        in_order: bool = True,
        created: datetime | None = None,
        payer: Payer | None = None,
        subscription_id: str = "",
    ) -> str:
        """A completed payment; `in_order=False` for one outside an order (subscriptions).
        With a payer it also appears in the transaction reports: a checkout payment
        (T0006), or a subscription's payment (T0002) when `subscription_id` is given."""
        with self.lock:
            when = created or _now() - timedelta(days=2)
            capture = Capture(
                id=_new_id(),
                amount_minor=amount_minor,
                currency=currency,
                order_id=_new_id() if in_order else "",
                create_time=when,
                update_time=when,
            )
            self.captures[capture.id] = capture
            if payer is not None:
                self.add_transaction(
                    when,
                    amount_minor,
                    currency,
                    event_code="T0002" if subscription_id else "T0006",
                    reference_id=subscription_id,
                    payer=payer,
                    transaction_id=capture.id,  # a capture is reported under its own id
                )
            return capture.id

    def pay_subscription(
        self, subscription_id: str, amount_minor: int, when: datetime | None = None
    ) -> str:
        """A payment PayPal collected for a subscription: a capture outside an order,
        reported as T0002 with the subscriber as payer."""
        with self.lock:
            s = self.subscriptions[subscription_id]
            when = when or _now() - timedelta(days=1)
            s.last_payment = (amount_minor, when)
            return self.add_capture(
                amount_minor,
                s.currency,
                in_order=False,
                created=when,
                payer=s.subscriber,
                subscription_id=s.id,
            )

    def add_plan(
        self,
        plan_id: str,
        name: str,
        amount_minor: int,
        currency: str = "USD",
        *,
        interval_unit: str = "MONTH",
        interval_count: int = 1,
    ) -> str:
        with self.lock:
            self.plans[plan_id] = Plan(
                plan_id, name, amount_minor, currency, interval_unit, interval_count
            )
            return plan_id

    def add_subscription(
        self,
        plan_id: str = "P-BASIC",
        *,
        status: str = "ACTIVE",
        currency: str = "USD",
        outstanding_minor: int = 0,
        next_billing_time: datetime | None = None,
        decline_issue: str = "",
        failed_payments_count: int = 0,
        subscriber: Payer | None = None,
        started: datetime | None = None,
    ) -> str:
        with self.lock:
            now = _now()
            subscription = Subscription(
                id=_new_id("I-", 12),
                plan_id=plan_id,
                status=status,
                currency=currency,
                outstanding_minor=outstanding_minor,
                next_billing_time=next_billing_time or now + timedelta(days=20),
                decline_issue=decline_issue,
                failed_payments_count=failed_payments_count,
                status_update_time=now - timedelta(days=10),
                create_time=started or now - timedelta(days=40),
                subscriber=subscriber or Payer(),
            )
            self.subscriptions[subscription.id] = subscription
            return subscription.id

    def add_transaction(
        self,
        when: datetime,
        amount_minor: int,
        currency: str = "USD",
        *,
        event_code: str = "T0006",
        status: str = "S",
        custom_field: str = "",
        reference_id: str = "",
        payer_email: str = "",
        transaction_id: str = "",
        payer: Payer | None = None,
    ) -> str:
        """A line of the transaction reports (T0006: a checkout payment)."""
        with self.lock:
            transaction_id = transaction_id or _new_id()
            info: dict[str, Any] = {
                "paypal_account_id": "QWERTY1234567",
                "transaction_id": transaction_id,
                "transaction_event_code": event_code,
                "transaction_initiation_date": _stamp(when),
                "transaction_updated_date": _stamp(when),
                "transaction_amount": money(amount_minor, currency),
                "transaction_status": status,
                "protection_eligibility": "01",
            }
            if custom_field:
                info["custom_field"] = custom_field
            if reference_id:
                info["paypal_reference_id"] = reference_id
                # PayPal's reference types: SUB a subscription, TXN a transaction.
                info["paypal_reference_id_type"] = "SUB" if reference_id.startswith("I-") else "TXN"
            if payer is None and payer_email:
                payer = Payer(email=payer_email)
            self.transactions.append(
                {
                    "transaction_info": info,
                    "payer_info": payer.info() if payer else {},
                    "shipping_info": {},
                    "cart_info": {},
                    "store_info": {},
                    "auction_info": {},
                    "incentive_info": {},
                }
            )
            return transaction_id

    def approve_revision(self, subscription_id: str) -> None:
        """The customer approves a plan change at PayPal: the new plan applies."""
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            subscription.plan_id = subscription.pending_plan_id or subscription.plan_id
            subscription.pending_plan_id = ""

    # -------------------------------------------------------------- reading

    def refunded_minor(self, capture_id: str) -> int:
        """What has been refunded (or is being refunded) of a capture."""
        with self.lock:
            return self._refunded(self.captures[capture_id])

    @property
    def tokens_issued(self) -> int:
        return len(self.issued_tokens)

    def posts(self, path_part: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and path_part in r.path]

    # ------------------------------------------------------------- handling

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw: bytes,
    ) -> Reply:
        with self.lock:
            self.requests.append(Recorded(method, path, query, headers, raw))
            try:
                if path == "/v1/oauth2/token" and method == "POST":
                    return Reply(*self._token(headers, raw))
                self._check_token(headers)
                fault = self._take_fault(method, path)
                if fault is not None and not fault.process:
                    return Reply(fault.status, fault.body, fault.headers)
                status, render = self._idempotent_call(method, path, query, headers, raw)
            except PayPalError as error:
                return Reply(error.status, error.body)
            if fault is not None and fault.kind == "drop":
                return Reply(0, drop=True)
            if fault is not None and fault.kind == "slow":
                return Reply(status, render(), delay=fault.delay)
            if fault is not None:
                return Reply(fault.status, fault.body, fault.headers)
            return Reply(status, render())

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.path in path and fault.method in ("", method):
                self._faults.remove(fault)
                return fault
        return None

    def _idempotent_call(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw: bytes,
    ) -> Handled:
        request_id = headers.get("paypal-request-id", "") if method == "POST" else ""
        if request_id and (request_id, path) in self._idempotent:
            return self._idempotent[(request_id, path)]
        handled = self._route(method, path, query, headers, raw)
        if request_id and 200 <= handled[0] < 300:
            self._idempotent[(request_id, path)] = handled
        return handled

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw: bytes,
    ) -> Handled:
        body = self._json_body(raw) if method == "POST" else {}
        full = "return=representation" in headers.get("prefer", "")
        for route_method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(*match.groups(), body=body, query=query, full=full)
        raise PayPalError.not_found()

    def _routes(self) -> list[tuple[str, str, Callable[..., Handled]]]:
        return [
            ("GET", r"/v2/payments/captures/([^/]+)", self._get_capture),
            ("POST", r"/v2/payments/captures/([^/]+)/refund", self._refund),
            ("GET", r"/v2/payments/refunds/([^/]+)", self._get_refund),
            ("GET", r"/v2/checkout/orders/([^/]+)", self._get_order),
            ("GET", r"/v1/billing/subscriptions/([^/]+)", self._get_subscription),
            ("POST", r"/v1/billing/subscriptions/([^/]+)/(suspend|activate|cancel)", self._act),
            ("POST", r"/v1/billing/subscriptions/([^/]+)/revise", self._revise),
            ("POST", r"/v1/billing/subscriptions/([^/]+)/capture", self._collect),
            ("GET", r"/v1/billing/plans/([^/]+)", self._get_plan),
            ("GET", r"/v1/reporting/transactions", self._search),
        ]

    @staticmethod
    def _json_body(raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise PayPalError.invalid_request("", "MALFORMED_REQUEST_JSON") from None
        if not isinstance(body, dict):
            raise PayPalError.invalid_request("", "MALFORMED_REQUEST_JSON")
        return body

    # ----------------------------------------------------------------- auth

    def _token(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("authorization", "") != f"Basic {expected}":
            return 401, {
                "error": "invalid_client",
                "error_description": "Client Authentication failed",
            }
        if parse_qs(raw.decode()).get("grant_type") != ["client_credentials"]:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "Grant Type is NULL",
            }
        token = "A21AA" + uuid.uuid4().hex + uuid.uuid4().hex
        self.tokens[token] = _now() + timedelta(seconds=self.token_lifetime)
        self.issued_tokens.append(token)
        return 200, {
            "scope": "https://uri.paypal.com/services/payments/refund "
            "https://uri.paypal.com/services/subscriptions "
            "https://uri.paypal.com/services/reporting/search/read",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": self.token_lifetime,
            "nonce": _stamp(_now()) + uuid.uuid4().hex[:20],
        }

    def _check_token(self, headers: dict[str, str]) -> None:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        expires = self.tokens.get(token)
        if expires is None or expires <= _now():
            self.unauthorized += 1
            raise PayPalError.unauthorized()

    # ------------------------------------------------------ captures, refunds

    def _capture(self, capture_id: str) -> Capture:
        capture = self.captures.get(capture_id)
        if capture is None:
            raise PayPalError.not_found()
        return capture

    def _refunded(self, capture: Capture, *, completed_only: bool = False) -> int:
        counted = ("COMPLETED",) if completed_only else ("COMPLETED", "PENDING")
        refunds = (self.refunds[refund_id] for refund_id in capture.refund_ids)
        return sum(r.amount_minor for r in refunds if r.status in counted)

    def _capture_json(self, capture: Capture) -> dict[str, Any]:
        refunded = self._refunded(capture, completed_only=True)
        status = "COMPLETED"
        if refunded >= capture.amount_minor:
            status = "REFUNDED"
        elif refunded:
            status = "PARTIALLY_REFUNDED"
        base = f"{self.url}/v2/payments/captures/{capture.id}"
        links = [
            {"href": base, "rel": "self", "method": "GET"},
            {"href": f"{base}/refund", "rel": "refund", "method": "POST"},
        ]
        answer: dict[str, Any] = {
            "id": capture.id,
            "amount": money(capture.amount_minor, capture.currency),
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE"},
            "seller_receivable_breakdown": {
                "gross_amount": money(capture.amount_minor, capture.currency),
            },
            "status": status,
            "create_time": _stamp(capture.create_time),
            "update_time": _stamp(capture.update_time),
            "links": links,
        }
        if capture.order_id:
            answer["supplementary_data"] = {"related_ids": {"order_id": capture.order_id}}
            order = f"{self.url}/v2/checkout/orders/{capture.order_id}"
            links.append({"href": order, "rel": "up", "method": "GET"})
        return answer

    def _refund_json(self, refund: Refund) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": refund.id,
            "amount": money(refund.amount_minor, refund.currency),
            "seller_payable_breakdown": {
                "gross_amount": money(refund.amount_minor, refund.currency),
                "net_amount": money(refund.amount_minor, refund.currency),
                "total_refunded_amount": money(
                    self._refunded(self.captures[refund.capture_id]), refund.currency
                ),
            },
            "status": refund.status,
            "create_time": _stamp(refund.create_time),
            "update_time": _stamp(refund.create_time),
            "links": self._refund_links(refund),
        }
        if refund.note_to_payer:
            answer["note_to_payer"] = refund.note_to_payer
        if refund.custom_id:
            answer["custom_id"] = refund.custom_id
        return answer

    def _refund_links(self, refund: Refund) -> list[dict[str, str]]:
        return [
            {"href": f"{self.url}/v2/payments/refunds/{refund.id}", "rel": "self", "method": "GET"},
            {
                "href": f"{self.url}/v2/payments/captures/{refund.capture_id}",
                "rel": "up",
                "method": "GET",
            },
        ]

    def _get_capture(self, capture_id: str, **_: Any) -> Handled:
        capture = self._capture(capture_id)
        return 200, lambda: self._capture_json(capture)

    def _get_refund(self, refund_id: str, **_: Any) -> Handled:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise PayPalError.not_found()
        return 200, lambda: self._refund_json(refund)

    def _get_order(self, order_id: str, **_: Any) -> Handled:
        captures = [c for c in self.captures.values() if c.order_id == order_id]
        if not captures:
            raise PayPalError.not_found()
        return 200, lambda: self._order_json(order_id, captures)

    def _order_json(self, order_id: str, captures: list[Capture]) -> dict[str, Any]:
        refunds = [self.refunds[r] for capture in captures for r in capture.refund_ids]
        total = sum(c.amount_minor for c in captures)
        return {
            "id": order_id,
            "intent": "CAPTURE",
            "status": "COMPLETED",
            "purchase_units": [
                {
                    "reference_id": "default",
                    "amount": money(total, captures[0].currency),
                    "payments": {
                        "captures": [self._capture_json(c) for c in captures],
                        "refunds": [self._refund_json(r) for r in refunds],
                    },
                }
            ],
            "create_time": _stamp(captures[0].create_time),
            "links": [
                {
                    "href": f"{self.url}/v2/checkout/orders/{order_id}",
                    "rel": "self",
                    "method": "GET",
                }
            ],
        }

    def _refund(self, capture_id: str, *, body: dict[str, Any], full: bool, **_: Any) -> Handled:
        capture = self._capture(capture_id)
        note = _optional_text(body, "note_to_payer", 255)
        custom_id = _optional_text(body, "custom_id", 127)
        remaining = capture.amount_minor - self._refunded(capture)
        if remaining <= 0:
            raise PayPalError.unprocessable(
                "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded"
            )
        amount = remaining
        if "amount" in body:
            amount, currency = _parse_money(body["amount"], "amount")
            if currency != capture.currency:
                raise PayPalError.unprocessable(
                    "REFUND_CAPTURE_CURRENCY_MISMATCH",
                    "Refund must be in the same currency as the capture",
                )
            if amount > remaining:
                raise PayPalError.unprocessable(
                    "REFUND_AMOUNT_EXCEEDED",
                    "The refund amount must be less than or equal to the capture amount "
                    "that has not yet been refunded.",
                )
        refund = Refund(
            _new_id(),
            capture.id,
            amount,
            capture.currency,
            self.refund_status,
            note,
            custom_id,
            _now(),
        )
        self.refunds[refund.id] = refund
        capture.refund_ids.append(refund.id)
        capture.update_time = refund.create_time
        self.add_transaction(
            refund.create_time,
            -amount,
            capture.currency,
            event_code="T1107",
            status="S" if refund.status == "COMPLETED" else "P",
            custom_field=custom_id,
            reference_id=capture.id,
            transaction_id=refund.id,  # a refund is a transaction of its own
        )
        if full:
            return 201, lambda: self._refund_json(refund)
        # PayPal's default (Prefer: return=minimal): the id, the status and links.
        return 201, lambda: {
            "id": refund.id,
            "status": refund.status,
            "links": self._refund_links(refund),
        }

    # ---------------------------------------------------------- subscriptions

    def _subscription(self, subscription_id: str) -> Subscription:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            raise PayPalError.not_found()
        return subscription

    def _subscription_json(self, s: Subscription) -> dict[str, Any]:
        base = f"{self.url}/v1/billing/subscriptions/{s.id}"
        billing: dict[str, Any] = {
            "outstanding_balance": money(s.outstanding_minor, s.currency),
            "cycle_executions": [
                {
                    "tenure_type": "REGULAR",
                    "sequence": 1,
                    "cycles_completed": 1,
                    "cycles_remaining": 0,
                    "current_pricing_scheme_version": 1,
                    "total_cycles": 0,
                }
            ],
            "failed_payments_count": s.failed_payments_count,
        }
        if s.status == "ACTIVE":
            billing["next_billing_time"] = _stamp(s.next_billing_time)
        if s.last_payment:
            amount, when = s.last_payment
            billing["last_payment"] = {"amount": money(amount, s.currency), "time": _stamp(when)}
        if s.failed_payments_count and s.outstanding_minor:
            billing["last_failed_payment"] = {
                "amount": money(s.outstanding_minor, s.currency),
                "time": _stamp(s.last_failed_time),
                "reason_code": "PAYMENT_DENIED",
            }
        answer: dict[str, Any] = {
            "id": s.id,
            "plan_id": s.plan_id,
            "status": s.status,
            "status_update_time": _stamp(s.status_update_time),
            "start_time": _stamp(s.create_time),
            "quantity": "1",
            "subscriber": {
                "name": {"given_name": s.subscriber.given_name, "surname": s.subscriber.surname},
                "email_address": s.subscriber.email,
                "payer_id": s.subscriber.payer_id,
            },
            "billing_info": billing,
            "create_time": _stamp(s.create_time),
            "update_time": _stamp(s.status_update_time),
            "plan_overridden": False,
            "links": [
                {"href": base, "rel": "self", "method": "GET"},
                {"href": base, "rel": "edit", "method": "PATCH"},
                {"href": f"{base}/suspend", "rel": "suspend", "method": "POST"},
                {"href": f"{base}/cancel", "rel": "cancel", "method": "POST"},
                {"href": f"{base}/capture", "rel": "capture", "method": "POST"},
            ],
        }
        if s.status_change_note:
            answer["status_change_note"] = s.status_change_note
        return answer

    def _get_subscription(self, subscription_id: str, **_: Any) -> Handled:
        subscription = self._subscription(subscription_id)
        return 200, lambda: self._subscription_json(subscription)

    def _act(self, subscription_id: str, action: str, *, body: dict[str, Any], **_: Any) -> Handled:
        subscription = self._subscription(subscription_id)
        reason = _required_text(body, "reason", 128)
        allowed, becomes, should_be = {
            "suspend": (("ACTIVE",), "SUSPENDED", "active"),
            "activate": (("SUSPENDED",), "ACTIVE", "suspended"),
            "cancel": (("ACTIVE", "SUSPENDED"), "CANCELLED", "active or suspended"),
        }[action]
        if subscription.status not in allowed:
            raise PayPalError.unprocessable(
                "SUBSCRIPTION_STATUS_INVALID",
                f"Invalid subscription status for {action} action; subscription status "
                f"should be {should_be}.",
            )
        subscription.status = becomes
        subscription.status_change_note = reason
        subscription.status_update_time = _now()
        return 204, lambda: None

    def _revise(self, subscription_id: str, *, body: dict[str, Any], **_: Any) -> Handled:
        subscription = self._subscription(subscription_id)
        plan_id = _required_text(body, "plan_id", 50)
        if subscription.status not in ("ACTIVE", "SUSPENDED"):
            raise PayPalError.unprocessable(
                "SUBSCRIPTION_STATUS_INVALID",
                "Invalid subscription status for revise action; subscription status should "
                "be active or suspended.",
            )
        subscription.pending_plan_id = plan_id
        token = _new_id("BA-")
        base = f"{self.url}/v1/billing/subscriptions/{subscription.id}"
        answer = {
            "plan_id": plan_id,
            "plan_overridden": False,
            "links": [
                {
                    "href": "https://www.sandbox.paypal.com/webapps/billing/subscriptions/"
                    f"update?ba_token={token}",
                    "rel": "approve",
                    "method": "GET",
                },
                {"href": base, "rel": "edit", "method": "PATCH"},
                {"href": base, "rel": "self", "method": "GET"},
                {"href": f"{base}/cancel", "rel": "cancel", "method": "POST"},
                {"href": f"{base}/suspend", "rel": "suspend", "method": "POST"},
                {"href": f"{base}/capture", "rel": "capture", "method": "POST"},
            ],
        }
        return 200, lambda: answer

    def _collect(self, subscription_id: str, *, body: dict[str, Any], **_: Any) -> Handled:
        """Capture the outstanding balance (`POST .../capture`)."""
        s = self._subscription(subscription_id)
        _required_text(body, "note", 128)
        if body.get("capture_type") != "OUTSTANDING_BALANCE":
            raise PayPalError.invalid_request("capture_type", "INVALID_PARAMETER_VALUE")
        amount, currency = _parse_money(body.get("amount"), "amount")
        if s.status not in ("ACTIVE", "SUSPENDED", "EXPIRED"):
            raise PayPalError.unprocessable(
                "SUBSCRIPTION_STATUS_INVALID",
                "Invalid subscription status for capture action; subscription status should "
                "be active or suspended or expired.",
            )
        if s.outstanding_minor <= 0:
            raise PayPalError.unprocessable(
                "ZERO_OUTSTANDING_BALANCE",
                "Current outstanding balance should be greater than zero.",
            )
        if currency != s.currency:
            raise PayPalError.unprocessable(
                "CURRENCY_MISMATCH",
                "The currency code is different from the subscription's currency code.",
            )
        if amount > s.outstanding_minor:
            raise PayPalError.unprocessable(
                "AMOUNT_GREATER_THAN_OUTSTANDING_BALANCE",
                "The capture amount can not be greater than the current outstanding balance.",
            )
        if s.decline_issue:
            raise PayPalError.unprocessable(s.decline_issue, _DECLINES.get(s.decline_issue, ""))
        now = _now()
        s.outstanding_minor -= amount
        s.failed_payments_count = 0
        s.last_payment = (amount, now)
        transaction_id = self.add_capture(
            amount,
            currency,
            in_order=False,
            created=now,
            payer=s.subscriber,
            subscription_id=s.id,
        )
        answer = {
            "status": "COMPLETED",
            "id": transaction_id,
            "amount_with_breakdown": {
                "gross_amount": money(amount, currency),
                "fee_amount": money(0, currency),
                "net_amount": money(amount, currency),
            },
            "payer_name": {"given_name": s.subscriber.given_name, "surname": s.subscriber.surname},
            "payer_email": s.subscriber.email,
            "time": _stamp(now),
        }
        return 200, lambda: answer

    def _get_plan(self, plan_id: str, **_: Any) -> Handled:
        plan = self.plans.get(plan_id)
        if plan is None:
            raise PayPalError.not_found()
        answer = {
            "id": plan.id,
            "product_id": f"PROD-{plan.id}",
            "name": plan.name,
            "status": plan.status,
            "usage_type": "LICENSED",
            "billing_cycles": [
                {
                    "frequency": {
                        "interval_unit": plan.interval_unit,
                        "interval_count": plan.interval_count,
                    },
                    "tenure_type": "REGULAR",
                    "sequence": 1,
                    "total_cycles": 0,
                    "pricing_scheme": {
                        "version": 1,
                        "fixed_price": money(plan.amount_minor, plan.currency),
                    },
                }
            ],
            "payment_preferences": {"auto_bill_outstanding": True},
            "create_time": _stamp(_now() - timedelta(days=400)),
            "update_time": _stamp(_now() - timedelta(days=400)),
        }
        return 200, lambda: answer

    # ---------------------------------------------------------------- reports

    def _search(self, *, query: dict[str, list[str]], **_: Any) -> Handled:
        start, end = _date_param(query, "start_date"), _date_param(query, "end_date")
        if end - start > MAX_SEARCH_RANGE or end < start:
            error = PayPalError.invalid_request("end_date", "INVALID_PARAMETER_VALUE")
            error.body["details"][0]["description"] = "The maximum supported range is 31 days."
            raise error
        page_size = _int_param(query, "page_size", 100, 1, 500)
        page = _int_param(query, "page", 1, 1, 2**31 - 1)
        wanted_type = query.get("transaction_type", [""])[0]
        fields = query.get("fields", ["transaction_info"])[0]
        refreshed = _now() - self.report_lag
        matches = [
            t
            for t in self.transactions
            if start <= _moment(t) <= min(end, refreshed)
            and (not wanted_type or t["transaction_info"]["transaction_event_code"] == wanted_type)
        ]
        shown = matches[(page - 1) * page_size : page * page_size]
        if fields != "all":
            shown = [{"transaction_info": t["transaction_info"]} for t in shown]
        answer = {
            "transaction_details": json.loads(json.dumps(shown)),
            "account_number": "QWERTY1234567",
            "start_date": _stamp(start),
            "end_date": _stamp(end),
            "last_refreshed_datetime": _stamp(refreshed),
            "page": page,
            "total_items": len(matches),
            "total_pages": math.ceil(len(matches) / page_size),
            "links": [],
        }
        return 200, lambda: answer


_DECLINES = {
    "INSTRUMENT_DECLINED": "The instrument presented  was either declined by the processor or "
    "bank, or it can't be used for this payment.",
    "PAYER_CANNOT_PAY": "Combination of payer and payee settings mean that this buyer cannot "
    "pay this seller.",
    "TRANSACTION_REFUSED": "The request was refused.",
    "SUBSCRIBER_ACCOUNT_CLOSED": "Subscriber Account Closed.",
}


def _moment(transaction: dict[str, Any]) -> datetime:
    text = transaction["transaction_info"]["transaction_initiation_date"]
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _optional_text(body: dict[str, Any], name: str, longest: int) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise PayPalError.invalid_request(name, "INVALID_PARAMETER_SYNTAX")
    if len(value) > longest:
        raise PayPalError.invalid_request(name, "INVALID_STRING_LENGTH")
    return value


def _required_text(body: dict[str, Any], name: str, longest: int) -> str:
    value = _optional_text(body, name, longest)
    if not value:
        raise PayPalError.invalid_request(name, "MISSING_REQUIRED_PARAMETER")
    return value


def _date_param(query: dict[str, list[str]], name: str) -> datetime:
    values = query.get(name)
    if not values:
        raise PayPalError.invalid_request(name, "MISSING_REQUIRED_PARAMETER")
    try:
        moment = datetime.strptime(values[0], "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise PayPalError.invalid_request(name, "INVALID_PARAMETER_SYNTAX") from None
    return moment.astimezone(UTC)


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    values = query.get(name)
    if not values:
        return default
    if not values[0].isdigit() or not low <= int(values[0]) <= high:
        raise PayPalError.invalid_request(name, "INVALID_PARAMETER_VALUE")
    return int(values[0])


# ----------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: PayPalFake) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as PayPal's servers
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms stall
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.fake.handle(method, url.path, parse_qs(url.query), headers, raw)
        if reply.drop:
            self.close_connection = True  # no answer at all: the socket just closes
            return
        time.sleep(reply.delay)  # outside the fake's lock: other requests go on
        payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Paypal-Debug-Id", uuid.uuid4().hex[:13])
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return


@pytest.fixture
def paypal_fake() -> Iterator[PayPalFake]:
    """A fresh fake PayPal for one test, served on 127.0.0.1 and a free port."""
    fake = PayPalFake()
    server = _Server(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
