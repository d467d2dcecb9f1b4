"""A refund above the configured amount is asked for, approved by another manager, and
then made once at Stripe (localstripe) — never by the asker, never twice."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from crm_tui.models.enums import ApprovalKind, RequestStatus
from crm_tui.services.actor import Actor
from crm_tui.services.agents import identify
from crm_tui.services.approvals import ApprovalRefused, ApprovalService, ApprovalView, NeedsApproval
from crm_tui.services.permissions import NotAllowed
from crm_tui.services.refunds import RefundService
from tests.factories import add_agent
from tests.support.localstripe_server import LocalStripe
from tests.unit.stripe_world import World


def _refund_posts(stripe: LocalStripe) -> int:
    return sum(1 for request in stripe.requests if request == ("POST", "/v1/refunds"))


@pytest.fixture
def people(engine: Engine) -> dict[str, Actor]:
    with engine.begin() as c:
        add_agent(c, "sofia", role="agent", display_name="Sofia Lind")
        add_agent(c, "lukas", role="manager", display_name="Lukas Beck")
        add_agent(c, "mara", role="manager", display_name="Mara Diaz")
    return {name: identify(engine, name) for name in ("sofia", "lukas", "mara")}


def test_above_the_limit_a_manager_approves_and_it_is_refunded_once(
    world: World, engine: Engine, people: dict[str, Actor]
) -> None:
    refunds = RefundService(engine, {"stripe": world.provider}, approval_above="5.00")
    payment = world.payment(world.ann)  # $10.00 at localstripe
    with pytest.raises(NeedsApproval, match=r"above \$5.00 needs a manager's approval"):
        refunds.refund(payment.id, 800, "Outage credit", people["sofia"])
    refunds.refund(payment.id, 300, "Small goodwill", people["sofia"])  # under: at once
    assert _refund_posts(world.stripe) == 1

    def run(view: ApprovalView, actor: Actor) -> str:
        asked = view.payload
        done = refunds.refund(
            asked["payment_id"], asked["amount_minor"], view.reason, actor, approval_id=view.id
        )
        return f"refunded ({done.provider_refund_id})"

    approvals = ApprovalService(engine, runners={ApprovalKind.REFUND: run})
    payload = {"payment_id": payment.id, "amount_minor": 700, "currency": "USD"}
    asked = approvals.request(
        ApprovalKind.REFUND, payment.customer_id, payload, "Outage credit", people["lukas"]
    )
    with pytest.raises(NotAllowed, match="another manager must decide it"):
        approvals.decide(asked.id, True, "approving my own", people["lukas"])
    with pytest.raises(NotAllowed, match=r"request #\d+ is not an approval of this refund"):
        refunds.refund(payment.id, 700, "sneaking it", people["sofia"], approval_id=asked.id)
    done = approvals.decide(asked.id, True, "Outage confirmed", people["mara"])
    assert done.status == RequestStatus.EXECUTED and done.outcome.startswith("refunded (re_")
    assert _refund_posts(world.stripe) == 2
    (stored,) = [r for r in world.local("refund") if r.amount_minor == 700]
    assert stored.agent_id == people["mara"].agent_id

    with pytest.raises(ApprovalRefused, match="executed, not approved"):
        approvals.execute(asked.id, people["mara"])
    assert _refund_posts(world.stripe) == 2


def test_a_failed_approved_refund_stays_approved_and_can_be_run_again(
    world: World, engine: Engine, people: dict[str, Actor]
) -> None:
    refunds = RefundService(engine, {"stripe": world.provider}, approval_above="5.00")
    payment = world.payment(world.ann)
    calls: list[int] = []

    def run(view: ApprovalView, actor: Actor) -> str:
        calls.append(view.id)
        if len(calls) == 1:  # e.g. the Stripe key was not set up on this manager's account
            raise RuntimeError("Stripe is not configured")
        done = refunds.refund(
            payment.id, view.payload["amount_minor"], view.reason, actor, approval_id=view.id
        )
        return f"refunded ({done.provider_refund_id})"

    approvals = ApprovalService(engine, runners={ApprovalKind.REFUND: run})
    payload = {"payment_id": payment.id, "amount_minor": 900, "currency": "USD"}
    asked = approvals.request(
        ApprovalKind.REFUND, payment.customer_id, payload, "Double charge", people["sofia"]
    )
    with pytest.raises(RuntimeError, match="not configured"):
        approvals.decide(asked.id, True, "Double charge seen", people["lukas"])
    state = approvals.get(asked.id)
    assert state.status == RequestStatus.APPROVED and state.outcome.startswith("not done yet")
    done = approvals.execute(asked.id, people["lukas"])
    assert done.status == RequestStatus.EXECUTED
    assert [r.amount_minor for r in world.local("refund")] == [900]
