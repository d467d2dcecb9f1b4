"""Who may do what: the roles, what each allows, and the one check every service makes.

Three roles, each allowing what the one before allows and more:

- agent:   read and change customers (edits, notes, tags, tickets, consent, account
           actions, refunds up to the approval limit), bulk tag/assign, export, and
           ask for what needs a second person (a large refund, a deletion, a merge,
           a bulk cancellation);
- manager: also approves or rejects other people's requests and resolves escalations;
- admin:   also manages the agents (add, change role, disable, read-only).

A read-only agent (a per-agent setting) or a read-only session (`--readonly`) keeps
only what reads: READ and EXPORT. An inactive (disabled) agent may do nothing.

The check lives here, in the services, so the TUI, the command line and the tests
all meet the same rule. The screens grey out what a role cannot do
(screens/refused_keys.py); the service still refuses if they are asked anyway.

Actors built in code without an agent id (tests, scripts run as the system) are
taken at their word for their role; the app and the command line only ever build
agent actors through `agents.identify`, which gives them their id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_tui.models import tables
from crm_tui.models.enums import ActorType, AgentRole
from crm_tui.services.actor import Actor

_agent = tables.SQLModel.metadata.tables["agent"]


class Permission(StrEnum):
    READ = "read customer data"
    EXPORT = "export customer data"
    CHANGE = "change customer data"
    REQUEST_APPROVAL = "ask for an approval"
    DECIDE_APPROVAL = "approve or reject requests"
    RESOLVE_ESCALATION = "resolve escalations"
    READ_AUDIT = "read the audit trail"
    MANAGE_AGENTS = "manage agents"


_AGENT_CAN = frozenset(
    {
        Permission.READ,
        Permission.EXPORT,
        Permission.CHANGE,
        Permission.REQUEST_APPROVAL,
    }
)
_MANAGER_CAN = _AGENT_CAN | {
    Permission.DECIDE_APPROVAL,
    Permission.RESOLVE_ESCALATION,
    Permission.READ_AUDIT,
}
ROLE_PERMISSIONS: dict[AgentRole, frozenset[Permission]] = {
    AgentRole.AGENT: _AGENT_CAN,
    AgentRole.MANAGER: _MANAGER_CAN,
    AgentRole.ADMIN: _MANAGER_CAN | {Permission.MANAGE_AGENTS},
}
# What a read-only agent or session keeps.
READ_ONLY_PERMISSIONS = frozenset({Permission.READ, Permission.EXPORT})


class NotAllowed(PermissionError):
    """The actor may not do this (a role, a read-only or inactive agent, a customer)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Standing:
    """What the database says about an agent now (a role change applies at once)."""

    name: str
    role: AgentRole
    active: bool
    readonly: bool


def roles_that_can(permission: Permission) -> list[AgentRole]:
    return [role for role, allowed in ROLE_PERMISSIONS.items() if permission in allowed]


def refusal(standing: Standing, permission: Permission, doing: str) -> str | None:
    """Why an agent in this standing may not `doing` (None: they may)."""
    if not standing.active:
        return f"{standing.name}'s agent account is inactive: cannot {doing}"
    if permission not in ROLE_PERMISSIONS[standing.role]:
        needed = " or ".join(f"{role.value}s" for role in roles_that_can(permission))
        return f"{standing.name} is {_article(standing.role)}: only {needed} can {doing}"
    if standing.readonly and permission not in READ_ONLY_PERMISSIONS:
        return f"{standing.name} has read-only access and cannot {doing}"
    return None


def standing(connection: Connection, actor: Actor) -> Standing | None:
    """The agent's standing from the database; None if they have no row there."""
    if actor.agent_id is None:
        return None
    row = connection.execute(
        sa.select(_agent.c.display_name, _agent.c.role, _agent.c.active, _agent.c.readonly).where(
            _agent.c.id == actor.agent_id
        )
    ).first()
    if row is None:
        return None
    return Standing(
        row.display_name,
        AgentRole(row.role),
        bool(row.active),
        bool(row.readonly) or actor.readonly,
    )


def authorize(
    connection: Connection, actor: Actor, permission: Permission, doing: str = ""
) -> None:
    """Raise `NotAllowed` unless `actor` may `doing` (worded for the person refused)."""
    doing = doing or permission.value
    if actor.type == ActorType.SYSTEM:
        return
    if actor.type == ActorType.CUSTOMER:
        raise NotAllowed(f"only an agent can {doing}")
    found = standing(connection, actor)
    if found is None and actor.agent_id is not None:
        raise NotAllowed(f"agent #{actor.agent_id} is unknown here and cannot {doing}")
    if found is None:  # built in code (see the module's docstring)
        found = Standing(actor.label, actor.role or AgentRole.AGENT, True, actor.readonly)
    reason = refusal(found, permission, doing)
    if reason is not None:
        raise NotAllowed(reason)


def require_writer(connection: Connection, actor: Actor, doing: str) -> None:
    """Refuse `actor` unless they may change customer data (kept for the older callers)."""
    authorize(connection, actor, Permission.CHANGE, doing)


def _article(role: AgentRole) -> str:
    return f"an {role.value}" if role.value[0] in "aeiou" else f"a {role.value}"
