"""Settle every pending provider intent: refunds by lookup, other actions by replay.

Run by `crm-tui reconcile` and, in the background, when the TUI opens a database,
so an action cut short by a crash or a timeout is settled without anyone having
to remember it — and never done twice.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables
from crm_tui.models.enums import IntentStatus
from crm_tui.services.account_actions import AccountActions
from crm_tui.services.actor import Actor
from crm_tui.services.providers.base import PaymentProvider
from crm_tui.services.refunds import RefundService

_intent = tables.SQLModel.metadata.tables["provider_intent"]


def pending_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(_intent)
                .where(_intent.c.status == IntentStatus.PENDING.value)
            ).scalar_one()
        )


def reconcile_all(
    engine: Engine, providers: Mapping[str, PaymentProvider], actor: Actor
) -> list[str]:
    """One line per pending intent: what it became (done, refused, still pending)."""
    lines = RefundService(engine, providers).reconcile(actor)
    lines += AccountActions(engine, providers).reconcile(actor)
    return lines
