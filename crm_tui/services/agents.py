"""The agents who use the tool: each one is a row, found by their operating-system login.

`identify` turns the person running the app into an `Actor` (or refuses them:
unknown or disabled); the first person to open a database with no agents becomes its
admin. Admins manage the rest (`crm-tui agents add|list|set-role|disable|enable`);
each change is an audit entry with the agent's record before and after.

An `Actor` with an `agent_id` is what lets the activity log, the status history and
a refused concurrent save name the person ("changed by Maria Lopez at 14:02").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActorType, AgentRole
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.database import as_utc
from crm_tui.services.permissions import NotAllowed, Permission, authorize
from crm_tui.services.validation import NAME_MAX, ValidationError, validate_text

_agent = tables.SQLModel.metadata.tables["agent"]


def register_agent(engine: Engine, actor: Actor) -> Actor:
    """The actor with its agent id, its row created if missing (tests and scripts).

    The app and the command line use `identify`, which refuses unknown people
    instead. A system or customer actor, or one that already has an id, comes back
    as is."""
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


# ------------------------------------------------------------------ identity


class AgentRefused(NotAllowed):
    """The person running the app is not (or no longer) an agent of this database."""


@dataclass(frozen=True)
class AgentRecord:
    id: int
    username: str
    display_name: str
    role: AgentRole
    active: bool
    readonly: bool
    created_at: datetime

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role.value,
            "active": self.active,
            "readonly": self.readonly,
            "created_at": self.created_at.isoformat(),
        }


def identify(
    engine: Engine,
    username: str,
    *,
    readonly: bool = False,
    register_unknown: bool = False,
) -> Actor:
    """The actor for `username`, or `AgentRefused` saying what to do about it.

    The first person to open a database with no agents becomes its admin. Anyone
    else must have been added (`crm-tui agents add`) and be active; the demo
    database (`register_unknown`) takes everyone in, as an admin, so every screen
    can be tried. `readonly` makes the session read-only whatever the role."""
    with engine.begin() as connection:
        _lock_agents(connection)
        row = connection.execute(sa.select(_agent).where(_agent.c.username == username)).first()
        if row is None:
            first = connection.execute(sa.select(sa.func.count()).select_from(_agent)).scalar()
            if first and not register_unknown:
                raise AgentRefused(
                    f"{username!r} is not an agent of this database. "
                    f"An admin can add you: crm-tui agents add {username} --role agent"
                )
            row = _insert_agent(connection, username, username, AgentRole.ADMIN)
            _audit_agent_change(
                connection,
                Actor.agent(username, row.id, AgentRole.ADMIN),
                "agent.add",
                row,
                {"first_of_database": not first, "demo": bool(first)},
            )
    if not row.active:
        raise AgentRefused(
            f"the agent account {username!r} is disabled. "
            f"An admin can enable it: crm-tui agents enable {username}"
        )
    return Actor(
        ActorType.AGENT,
        username=row.username,
        agent_id=row.id,
        role=AgentRole(row.role),
        display_name=row.display_name,
        readonly=readonly or bool(row.readonly),
    )


# ------------------------------------------------------------ administration


def list_agents(engine: Engine) -> list[AgentRecord]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(_agent).order_by(_agent.c.username)).all()
    return [_record(row) for row in rows]


def add_agent(
    engine: Engine,
    by: Actor,
    username: str,
    *,
    role: AgentRole = AgentRole.AGENT,
    display_name: str = "",
    readonly: bool = False,
) -> AgentRecord:
    """A new agent (admins only); refused if the login is taken or not a login."""
    username = _valid_login(username)
    shown = _valid_display_name(display_name or username)
    with engine.begin() as connection:
        authorize(connection, by, Permission.MANAGE_AGENTS, "add agents")
        _lock_agents(connection)
        if connection.execute(sa.select(_agent.c.id).where(_agent.c.username == username)).first():
            raise AgentAdminError(f"{username!r} is already an agent (crm-tui agents list)")
        row = _insert_agent(connection, username, shown, role, readonly=readonly)
        _audit_agent_change(connection, by, "agent.add", row, {})
        return _record(row)


def set_role(engine: Engine, by: Actor, username: str, role: AgentRole) -> AgentRecord:
    return _change(engine, by, username, "agent.set_role", {"role": role.value})


def set_active(engine: Engine, by: Actor, username: str, active: bool) -> AgentRecord:
    action = "agent.enable" if active else "agent.disable"
    return _change(engine, by, username, action, {"active": active})


def set_readonly(engine: Engine, by: Actor, username: str, readonly: bool) -> AgentRecord:
    return _change(engine, by, username, "agent.set_readonly", {"readonly": readonly})


class AgentAdminError(ValueError):
    """An agent change that cannot be made as asked; nothing was written."""


def _change(
    engine: Engine, by: Actor, username: str, action: str, values: dict[str, Any]
) -> AgentRecord:
    with engine.begin() as connection:
        authorize(connection, by, Permission.MANAGE_AGENTS, "manage agents")
        _lock_agents(connection)
        row = connection.execute(sa.select(_agent).where(_agent.c.username == username)).first()
        if row is None:
            raise AgentAdminError(f"{username!r} is not an agent (crm-tui agents list)")
        before = _record(row)
        after = replace(
            before,
            role=AgentRole(values.get("role", before.role)),
            active=bool(values.get("active", before.active)),
            readonly=bool(values.get("readonly", before.readonly)),
        )
        _refuse_admin_lockout(connection, before, after)
        connection.execute(sa.update(_agent).where(_agent.c.id == row.id).values(**values))
        changed = connection.execute(sa.select(_agent).where(_agent.c.id == row.id)).one()
        _audit_agent_change(connection, by, action, changed, {}, before=before)
        return _record(changed)


def _refuse_admin_lockout(connection: Connection, before: AgentRecord, after: AgentRecord) -> None:
    """Never leave the database without an active admin who can change things."""
    was_admin = before.role == AgentRole.ADMIN and before.active and not before.readonly
    still_admin = after.role == AgentRole.ADMIN and after.active and not after.readonly
    if not was_admin or still_admin:
        return
    others = connection.execute(
        sa.select(sa.func.count())
        .select_from(_agent)
        .where(
            _agent.c.role == AgentRole.ADMIN.value,
            _agent.c.active.is_(True),
            _agent.c.readonly.is_(False),
            _agent.c.id != before.id,
        )
    ).scalar()
    if not others:
        raise AgentAdminError(
            f"{before.username} is the last active admin: make someone else admin first"
        )


def _lock_agents(connection: Connection) -> None:
    """Serialise agent changes: two first starts make one admin, not two."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("LOCK TABLE agent IN SHARE ROW EXCLUSIVE MODE"))
    else:
        connection.execute(sa.update(_agent).where(sa.false()).values(role=_agent.c.role))


def _insert_agent(
    connection: Connection,
    username: str,
    display_name: str,
    role: AgentRole,
    *,
    readonly: bool = False,
) -> Any:
    agent_id = connection.execute(
        sa.insert(_agent).values(
            username=username,
            display_name=display_name,
            role=role.value,
            active=True,
            readonly=readonly,
            timezone="UTC",
            created_at=datetime.now(UTC),
        )
    ).inserted_primary_key
    assert agent_id is not None
    return connection.execute(sa.select(_agent).where(_agent.c.id == agent_id[0])).one()


def _audit_agent_change(
    connection: Connection,
    by: Actor,
    action: str,
    row: Any,
    details: dict[str, object],
    before: AgentRecord | None = None,
) -> None:
    after = _record(row).as_json()
    audit.append(
        connection,
        by,
        action,
        details={"username": row.username, **details},
        before=before.as_json() if before is not None else None,
        after=after,
    )


def _record(row: Any) -> AgentRecord:
    return AgentRecord(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=AgentRole(row.role),
        active=bool(row.active),
        readonly=bool(row.readonly),
        created_at=as_utc(row.created_at),
    )


_LOGIN = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?", re.IGNORECASE)


def _valid_login(username: str) -> str:
    """An operating-system login name (what `identify` will be handed)."""
    if not _LOGIN.fullmatch(username):
        raise AgentAdminError(
            f"{username!r} is not a login name: letters, digits, '.', '_' or '-', "
            "up to 32, not starting with a digit or '-'"
        )
    return username


def _valid_display_name(name: str) -> str:
    try:
        return validate_text(name, field="name", max_length=NAME_MAX)
    except ValidationError as error:
        raise AgentAdminError(str(error)) from None
