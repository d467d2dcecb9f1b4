"""Where merges need a second person (the app's default), the merge service itself
refuses an agent's merge without an approved request for exactly those two."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models.enums import ApprovalKind, RequestStatus
from crm_tui.services.agents import identify
from crm_tui.services.approvals import ApprovalService, ApprovalView, NeedsApproval
from crm_tui.services.merge import MergeService
from crm_tui.services.permissions import NotAllowed
from tests.factories import add_agent, add_customer


def test_a_merge_needs_an_approved_request_for_exactly_those_two(engine: Engine) -> None:
    with engine.begin() as c:
        add_agent(c, "sofia", role="agent")
        add_agent(c, "lukas", role="manager")
        keep = add_customer(c, name="Ada Lovelace", email="ada@example.com")
        gone = add_customer(c, name="Ada Lovelace", email="ada.l@example.com")
        other = add_customer(c, name="Bob", email="bob@example.com")
    sofia, lukas = identify(engine, "sofia"), identify(engine, "lukas")
    merges = MergeService(engine, require_approval=True)
    versions = merges.preview(keep, gone, sofia).versions
    with pytest.raises(NeedsApproval, match="a merge needs a manager's approval"):
        merges.merge(keep, gone, "same person", sofia, versions)

    def run(view: ApprovalView, actor: object) -> str:
        merges.merge(keep, gone, view.reason, lukas, versions, approval_id=view.id)
        return "merged"

    approvals = ApprovalService(engine, runners={ApprovalKind.MERGE: run})
    payload = {"keep_id": keep, "merge_id": gone}
    asked = approvals.request(ApprovalKind.MERGE, keep, payload, "same person", sofia)
    wrong = merges.preview(keep, other, sofia).versions
    with pytest.raises(NotAllowed, match="is not an approval of this merge"):
        merges.merge(keep, other, "sneaking", sofia, wrong, approval_id=asked.id)
    done = approvals.decide(asked.id, True, "checked both", lukas)
    assert done.status == RequestStatus.EXECUTED
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT survivor_id FROM merged_customer")).scalar() == keep
