"""Who performs a service call: an agent, the system, or the customer (self-service).

Every call that reads or changes customer data takes an `Actor`; it is what the
activity log, the audit trail and the permission checks are made of.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from crm_tui.models.enums import ActorType, AgentRole


@dataclass(frozen=True)
class Actor:
    type: ActorType
    username: str = ""
    agent_id: int | None = None
    role: AgentRole | None = None
    display_name: str = ""
    # A read-only session (`--readonly`): the services refuse its changes whatever the role.
    readonly: bool = False

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorType.SYSTEM, username="system", display_name="system")

    @classmethod
    def customer(cls) -> Actor:
        return cls(ActorType.CUSTOMER, username="customer", display_name="customer (self-service)")

    @classmethod
    def agent(
        cls,
        username: str,
        agent_id: int | None = None,
        role: AgentRole = AgentRole.AGENT,
        display_name: str = "",
    ) -> Actor:
        return cls(ActorType.AGENT, username, agent_id, role, display_name or username)

    @property
    def label(self) -> str:
        return self.display_name or self.username


def os_login() -> str:
    """The operating-system account running this process: who is using the app.

    From the password database, not $USER or $LOGNAME: those are one `export` away
    from being someone else, and on a shared jump host the account is the identity."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # no password database (Windows, some containers)
        return getpass.getuser()
