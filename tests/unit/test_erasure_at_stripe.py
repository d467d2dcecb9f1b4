"""Where the config says so, an approved erasure also deletes the customer at Stripe
(localstripe); if Stripe fails, the local erasure stands and the request stays
approved, to be carried out again."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy.engine import Engine

from crm_tui.models.enums import ApprovalKind, RequestStatus
from crm_tui.services.actor import Actor
from crm_tui.services.agents import identify
from crm_tui.services.approvals import ApprovalService, ApprovalView
from crm_tui.services.erasure import delete_at_providers
from crm_tui.services.providers.base import ProviderError
from tests.factories import add_agent
from tests.unit.stripe_world import World


def _approvals(engine: Engine, world: World) -> ApprovalService:
    def run(view: ApprovalView, actor: Actor) -> str:
        assert view.customer_id is not None
        return delete_at_providers(engine, view.customer_id, {"stripe": world.provider})

    return ApprovalService(engine, runners={ApprovalKind.DELETION: run})


@pytest.fixture
def people(engine: Engine) -> dict[str, Actor]:
    with engine.begin() as c:
        add_agent(c, "sofia", role="agent")
        add_agent(c, "lukas", role="manager")
    return {name: identify(engine, name) for name in ("sofia", "lukas")}


def _stripe_customer(world: World, stripe_id: str) -> dict[str, object]:
    client = stripe.StripeClient(world.stripe.api_key, base_addresses={"api": world.stripe.url})
    try:
        return dict(client.v1.customers.retrieve(stripe_id))
    except stripe.InvalidRequestError:
        return {"deleted": True}


def test_an_approved_erasure_deletes_the_customer_at_stripe(
    world: World, engine: Engine, people: dict[str, Actor]
) -> None:
    customer_id = world.customer_id(world.ann)
    approvals = _approvals(engine, world)
    asked = approvals.request(
        ApprovalKind.DELETION, customer_id, {}, "GDPR request", people["sofia"]
    )
    done = approvals.decide(asked.id, True, "identity checked", people["lukas"])
    assert done.status == RequestStatus.EXECUTED
    assert done.outcome == f"stripe: {world.ann} deleted"
    assert _stripe_customer(world, world.ann).get("deleted") is True
    assert world.local("customer", id=customer_id)[0].erased_at is not None


def test_a_stripe_failure_leaves_it_approved_to_run_again(
    world: World, engine: Engine, people: dict[str, Actor]
) -> None:
    customer_id = world.customer_id(world.ann)
    approvals = _approvals(engine, world)
    asked = approvals.request(
        ApprovalKind.DELETION, customer_id, {}, "GDPR request", people["sofia"]
    )
    world.provider.sleep = lambda _seconds: None  # type: ignore[method-assign]
    for _ in range(3):
        world.stripe.fail_next(f"/v1/customers/{world.ann}", "500")
    with pytest.raises(ProviderError):
        approvals.decide(asked.id, True, "identity checked", people["lukas"])
    state = approvals.get(asked.id)
    assert state.status == RequestStatus.APPROVED and "not done yet" in state.outcome
    assert world.local("customer", id=customer_id)[0].erased_at is not None  # erased here
    assert [view.id for view in approvals.pending()] == [asked.id]  # back in the queue
    assert approvals.execute(asked.id, people["lukas"]).status == RequestStatus.EXECUTED
    assert _stripe_customer(world, world.ann).get("deleted") is True
