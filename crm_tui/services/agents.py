"""The agents who use the tool: each one is a row, found (or created) by login name.

An `Actor` with an `agent_id` is what lets the activity log, the status history and
a refused concurrent save name the person ("changed by Maria Lopez at 14:02").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActorType, AgentRole
from crm_tui.services.actor import Actor

_agent = tables.SQLModel.metadata.tables["agent"]


def register_agent(engine: Engine, actor: Actor) -> Actor:
    """The actor with its agent id: the agent's row, created on their first start.

    A system or customer actor, or one that already has an id, comes back as is."""
    if actor.type != ActorType.AGENT or actor.agent_id is not None:
        return actor
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(_agent.c.id, _agent.c.display_name, _agent.c.role).where(
                _agent.c.username == actor.username
            )
        ).first()
        if row is None:
            agent_id = connection.execute(
                sa.insert(_agent).values(
                    username=actor.username,
                    display_name=actor.label,
                    role=(actor.role or AgentRole.AGENT).value,
                    active=True,
                    readonly=False,
                    timezone="UTC",
                    created_at=datetime.now(UTC),
                )
            ).inserted_primary_key
            assert agent_id is not None
            return replace(actor, agent_id=int(agent_id[0]))
    return replace(actor, agent_id=row.id, display_name=row.display_name, role=AgentRole(row.role))
