"""A real Stripe-compatible HTTP server for the tests: localstripe, with what it lacks.

localstripe is a stateful Stripe server. Its own command line binds every
interface and pickles its state to /tmp on every write, so the fixture builds an
aiohttp application from localstripe's routes instead, serves it on 127.0.0.1
and a free port from a background thread, and keeps the state in memory.

What localstripe lacks is added here, following Stripe's documented behaviour
(https://docs.stripe.com/api), not by mocking the SDK:

- idempotency replay: a POST with an `Idempotency-Key` seen before returns the
  first answer (header `Idempotent-Replayed: true`); the same key with other
  parameters is refused (idempotency_error);
- refunds: `reason` accepted; a refund above what remains on the charge is
  refused (`charge_already_refunded` when nothing remains);
- subscriptions: `pause_collection` (set, and unset with ""), `proration_behavior`,
  items by `price` (a plan id is a price id), status `trialing` while a trial
  runs, `customer.subscription.updated` events;
- customer balance transactions (account credit) and billing portal sessions;
- fault switches: the next matching request answers 500, 429, takes the
  change and then drops the connection without answering ("drop"), drops it
  before doing anything ("reset"), or answers `retry_after` seconds late
  ("slow", for client timeouts).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.resources import (
    Charge,
    Customer,
    Event,
    Plan,
    Refund,
    StripeObject,
    Subscription,
    store,
)

API_KEY = "sk_test_crm_tui"

# localstripe's store pickles itself to /tmp on every change: keep it in memory.
store.dump_to_disk = lambda: None  # type: ignore[method-assign]
# No webhook endpoints in the tests: do not schedule a delivery task per event.
resources.schedule_webhook = lambda event: None


# localstripe lists a type by scanning its whole store (every object of every type),
# and exporting a charge lists its refunds that way: with 1,000 customers a page of
# charges took over a second. An index by type keeps the same answers, in the same
# (insertion) order, without the scan.
_by_type: dict[str, dict[str, Any]] = {}


def _indexed_set(self: Any, key: str, value: Any) -> None:
    dict.__setitem__(self, key, value)
    _by_type.setdefault(key.split(":", 1)[0], {})[key] = value


def _indexed_del(self: Any, key: str) -> None:
    dict.__delitem__(self, key)
    _by_type.get(key.split(":", 1)[0], {}).pop(key, None)


def _indexed_clear(self: Any) -> None:
    dict.clear(self)
    _by_type.clear()


def _list_all(
    cls: Any, url: Any, limit: Any = None, starting_after: Any = None, **kwargs: Any
) -> Any:
    if kwargs:
        raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
    listing = resources.List(url, limit=limit, starting_after=starting_after)
    listing._list = list(_by_type.get(cls.object, {}).values())
    return listing


type(store).__setitem__ = _indexed_set  # type: ignore[method-assign]
type(store).__delitem__ = _indexed_del  # type: ignore[method-assign]
type(store).clear = _indexed_clear  # type: ignore[method-assign]
StripeObject._api_list_all = classmethod(_list_all)  # type: ignore[method-assign,assignment]


# ------------------------------------------------------------------ extensions


class CustomerBalanceTransaction(StripeObject):
    object = "customer_balance_transaction"
    _id_prefix = "cbtxn_"

    def __init__(
        self,
        customer: str,
        amount: int,
        currency: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        customer_obj = Customer._api_retrieve(customer)
        super().__init__()
        self.customer = customer
        self.amount = amount
        self.currency = currency
        self.description = description
        self.metadata = metadata or {}
        # Stripe: a negative amount is a credit; `balance` is what the customer owes.
        customer_obj.balance = (getattr(customer_obj, "balance", 0) or 0) + amount
        self.ending_balance = customer_obj.balance


class BillingPortalSession(StripeObject):
    object = "billing_portal.session"
    _id_prefix = "bps_"

    def __init__(self, customer: str, return_url: str | None, base_url: str) -> None:
        Customer._api_retrieve(customer)
        super().__init__()
        self.customer = customer
        self.return_url = return_url
        self.url = f"{base_url}/p/session/{self.id}"


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(400, f"Invalid integer: {name}") from None


def _prices_as_plans(items: list[dict[str, Any]] | None) -> None:
    """Stripe: a plan id is a price id. localstripe knows plans only."""
    for item in items or []:
        if "price" in item:
            item["plan"] = item.pop("price")


def _refund_create(data: dict[str, Any]) -> Refund:
    data.pop("reason", None)  # duplicate, fraudulent, requested_by_customer: recorded only
    charge_id = data.get("charge")
    if charge_id is None and data.get("payment_intent"):
        charge_id = resources.PaymentIntent._api_retrieve(data["payment_intent"]).latest_charge.id
    if charge_id is not None:
        charge = Charge._api_retrieve(charge_id)
        remaining = charge.amount - charge.amount_refunded
        amount = _int(data.get("amount", remaining), "amount")
        if remaining <= 0:
            raise UserError(
                400,
                f"Charge {charge_id} has already been refunded.",
                {"code": "charge_already_refunded"},
            )
        if amount > remaining:
            raise UserError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                {"code": "amount_too_large", "param": "amount"},
            )
    refund = Refund._api_create(**data)
    Event("charge.refunded", Charge._api_retrieve(refund.charge))
    return refund


def _subscription_update(subscription_id: str, data: dict[str, Any]) -> Subscription:
    subscription = Subscription._api_retrieve(subscription_id)
    pause = data.pop("pause_collection", None)
    behavior = data.pop("proration_behavior", None)
    if behavior is not None:
        data["prorate"] = behavior != "none"
    data.pop("cancellation_details", None)
    _prices_as_plans(data.get("items"))
    if data:
        Subscription._api_update(subscription_id, **data)
    if pause is not None:
        if pause == "":
            subscription.pause_collection = None
        else:
            if pause.get("behavior") not in ("keep_as_draft", "mark_uncollectible", "void"):
                raise UserError(400, "Invalid pause_collection[behavior]")
            resumes_at = pause.get("resumes_at")
            subscription.pause_collection = {
                "behavior": pause["behavior"],
                "resumes_at": _int(resumes_at, "resumes_at") if resumes_at else None,
            }
    _settle_trial_status(subscription)
    Event("customer.subscription.updated", subscription)
    return subscription


def _settle_trial_status(subscription: Subscription) -> None:
    """Stripe: a subscription whose trial runs is `trialing`; localstripe leaves it incomplete."""
    trial_end = getattr(subscription, "trial_end", None)
    if subscription.status in ("incomplete", "trialing", "active") and trial_end:
        if trial_end > time.time():
            subscription.status = "trialing"
        elif subscription.status == "trialing":
            subscription.status = "active"


def _subscription_create(data: dict[str, Any]) -> Subscription:
    _prices_as_plans(data.get("items"))
    data.pop("proration_behavior", None)
    subscription = Subscription._api_create(**data)
    _settle_trial_status(subscription)
    return subscription


# ------------------------------------------------------------------ the server


@dataclass
class Fault:
    path_prefix: str
    kind: str  # "500", "429", "drop", "reset", "slow"
    retry_after: int = 1


@dataclass
class LocalStripe:
    """The running server: its URL, key, and switches for the tests."""

    url: str
    loop: asyncio.AbstractEventLoop
    api_key: str = API_KEY
    faults: list[Fault] = field(default_factory=list)
    idempotent: dict[tuple[str, str], tuple[str, int, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def run(self, function: Callable[[], Any]) -> Any:
        """Run `function` in the server's loop (localstripe's objects schedule events there)."""

        async def call() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=60)

    def fail_next(self, path_prefix: str, kind: str, retry_after: int = 1) -> None:
        self.faults.append(Fault(path_prefix, kind, retry_after))

    def reset(self) -> None:
        self.run(store.clear)
        self.faults.clear()
        self.idempotent.clear()
        self.requests.clear()

    # Helpers that build state at "Stripe", as a business's own history would be.

    def plan(
        self, plan_id: str, amount: int, currency: str = "usd", interval: str = "month"
    ) -> str:
        def make() -> str:
            Plan(
                id=plan_id,
                amount=amount,
                currency=currency,
                interval=interval,
                product={"name": plan_id},
                nickname=plan_id,
            )
            return plan_id

        return str(self.run(make))

    def customer(self, name: str, email: str, *, card: str = "pm_card_visa") -> str:
        def make() -> str:
            customer = Customer(name=name, email=email)
            resources.PaymentMethod._api_attach(card, customer=customer.id)
            pm = [
                pm
                for key, pm in store.items()
                if key.startswith("payment_method:") and pm.customer == customer.id
            ][-1]
            customer.invoice_settings = {"default_payment_method": pm.id}
            return str(customer.id)

        return str(self.run(make))

    def subscribe(self, customer: str, plan_id: str, *, trial_days: int = 0) -> str:
        def make() -> str:
            data: dict[str, Any] = {"customer": customer, "items": [{"plan": plan_id}]}
            if trial_days:
                data["trial_end"] = int(time.time()) + trial_days * 86400
            return str(_subscription_create(data).id)

        return str(self.run(make))

    def charge(self, customer: str, amount: int, currency: str = "usd") -> str:
        return str(
            self.run(
                lambda: Charge._api_create(customer=customer, amount=amount, currency=currency).id
            )
        )

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        return dict(self.run(lambda: store[f"{kind}:{object_id}"]._export()))

    def objects(self, kind: str) -> list[Any]:
        return list(self.run(lambda: [v for k, v in store.items() if k.startswith(kind + ":")]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _build_app(state_holder: dict[str, LocalStripe]) -> web.Application:
    def state() -> LocalStripe:
        return state_holder["state"]

    @web.middleware
    async def faults(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        state().requests.append((request.method, request.path))
        for fault in list(state().faults):
            if request.path.startswith(fault.path_prefix):
                state().faults.remove(fault)
                if fault.kind == "500":
                    return web.json_response(
                        {"error": {"type": "api_error", "message": "An unknown error occurred"}},
                        status=500,
                    )
                if fault.kind == "429":
                    return web.json_response(
                        {
                            "error": {
                                "type": "invalid_request_error",
                                "code": "rate_limit",
                                "message": "Too many requests hit the API too quickly.",
                            }
                        },
                        status=429,
                        headers={"Retry-After": str(fault.retry_after)},
                    )
                if fault.kind == "reset":  # the connection dies before anything is done
                    assert request.transport is not None
                    request.transport.abort()
                    raise asyncio.CancelledError
                if fault.kind == "slow":  # done, but answered after the client gave up
                    await asyncio.sleep(fault.retry_after)
                    return await _idempotent(request, handler, body)
                if fault.kind == "drop":
                    # The change is made, the answer never arrives: "money moved, no reply".
                    await _idempotent(request, handler, body)
                    assert request.transport is not None
                    request.transport.abort()
                    raise asyncio.CancelledError
        return await _idempotent(request, handler, body)

    async def _idempotent(request: web.Request, handler: Any, body: bytes) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        api_key = request.headers.get("Authorization", "")
        seen = state().idempotent.get((api_key, key))
        fingerprint = f"{request.path}?{body.decode(errors='replace')}"
        if seen is not None:
            if seen[0] != fingerprint:
                return web.json_response(
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with "
                            "the same parameters they were first used with.",
                        }
                    },
                    status=400,
                )
            return web.Response(
                body=seen[2],
                status=seen[1],
                content_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        response = await handler(request)
        if isinstance(response, web.Response) and response.status < 500 and response.body:
            state().idempotent[(api_key, key)] = (
                fingerprint,
                response.status,
                bytes(response.body),
            )  # type: ignore[arg-type]
        return response

    def export(obj: Any) -> web.Response:
        return server.json_response(obj._export())

    async def post_data(request: web.Request) -> dict[str, Any]:
        return dict(await server.get_post_data(request) or {})

    async def refund(request: web.Request) -> web.Response:
        return export(_refund_create(await post_data(request)))

    async def update_subscription(request: web.Request) -> web.Response:
        data = await post_data(request)
        data.pop("expand", None)
        return export(_subscription_update(request.match_info["id"], data))

    async def create_subscription(request: web.Request) -> web.Response:
        data = await post_data(request)
        data.pop("expand", None)
        return export(_subscription_create(data))

    async def create_preview(request: web.Request) -> web.Response:
        data = await post_data(request)
        details = dict(data.get("subscription_details") or {})
        details.pop("proration_behavior", None)
        _prices_as_plans(details.get("items"))
        for item in details.get("items") or []:
            item.pop("id", None)
        # localstripe stores the preview's proration items as real pending items;
        # Stripe's preview changes nothing, so they are removed again.
        before = set(store.keys())
        invoice = resources.Invoice._api_create_preview_invoice(
            customer=data.get("customer"),
            subscription=data.get("subscription"),
            subscription_details=details,
        )
        answer = export(invoice)
        for key in set(store.keys()) - before:
            del store[key]
        return answer

    async def balance_transaction(request: web.Request) -> web.Response:
        data = await post_data(request)
        if "amount" not in data or "currency" not in data:
            raise UserError(400, "Missing required param: amount and currency.")
        return export(
            CustomerBalanceTransaction(
                request.match_info["id"],
                _int(data["amount"], "amount"),
                str(data["currency"]),
                data.get("description"),
                data.get("metadata"),
            )
        )

    async def list_balance_transactions(request: web.Request) -> web.Response:
        customer = request.match_info["id"]
        Customer._api_retrieve(customer)
        items = [
            v._export()
            for k, v in store.items()
            if k.startswith("customer_balance_transaction:") and v.customer == customer
        ]
        return server.json_response(
            {"object": "list", "data": items[::-1], "has_more": False, "url": request.path}
        )

    async def portal_session(request: web.Request) -> web.Response:
        data = await post_data(request)
        if not data.get("customer"):
            raise UserError(400, "Missing required param: customer.")
        return export(BillingPortalSession(data["customer"], data.get("return_url"), state().url))

    app = web.Application(middlewares=[faults, server.error_middleware, server.auth_middleware])
    app.router.add_post("/v1/refunds", refund)
    app.router.add_post("/v1/invoices/create_preview", create_preview)
    app.router.add_post("/v1/subscriptions", create_subscription)
    app.router.add_post("/v1/subscriptions/{id}", update_subscription)
    app.router.add_post("/v1/customers/{id}/balance_transactions", balance_transaction)
    app.router.add_get("/v1/customers/{id}/balance_transactions", list_balance_transactions)
    app.router.add_post("/v1/billing_portal/sessions", portal_session)
    taken = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    for route in server.app.router.routes():
        if route.resource is None or (route.method, route.resource.canonical) in taken:
            continue
        app.router.add_route(route.method, route.resource.canonical, route.handler)
    return app


@contextmanager
def serve_localstripe() -> Iterator[LocalStripe]:
    """localstripe on 127.0.0.1 and a free port, served from a thread of this process
    (the tests' fixture, and benchmarks/load.py)."""
    port = _free_port()
    holder: dict[str, LocalStripe] = {}
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    holder["state"] = LocalStripe(url=f"http://127.0.0.1:{port}", loop=loop)
    app = _build_app(holder)
    runner = web.AppRunner(app, access_log=None)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="localstripe", daemon=True)
    thread.start()
    assert ready.wait(15), "localstripe did not start"
    try:
        yield holder["state"]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def _localstripe_server() -> Iterator[LocalStripe]:
    with serve_localstripe() as stripe:
        yield stripe


@pytest.fixture
def localstripe(_localstripe_server: LocalStripe) -> Iterator[LocalStripe]:
    """localstripe on 127.0.0.1, emptied for each test."""
    _localstripe_server.reset()
    yield _localstripe_server
    _localstripe_server.reset()
