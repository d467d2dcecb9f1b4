"""What the person may not do is greyed out in the footer, and says why when pressed.

A screen lists, per action, why the current agent may not run it (their role, a
read-only session); `check_action` then answers None, which Textual draws as a
dimmed key and does not run, and the key press reaches `on_key`, which tells the
agent why instead of doing nothing. The services refuse the same things anyway
(permissions.py): this is so the screen never offers what will be refused.
"""

from __future__ import annotations

from textual import events
from textual.screen import Screen

from crm_tui.models.enums import AgentRole
from crm_tui.services.actor import Actor

MANAGERS = frozenset({AgentRole.MANAGER, AgentRole.ADMIN})


def read_only_reason(actor: Actor | None) -> str | None:
    if actor is not None and actor.readonly:
        return f"Read-only: {actor.label} cannot change anything from this session."
    return None


def manager_reason(actor: Actor | None, doing: str) -> str | None:
    if actor is None or actor.role in MANAGERS:
        return None
    role = actor.role.value if actor.role else "agent"
    article = "an" if role[0] in "aeiou" else "a"
    return f"{actor.label} is {article} {role}: only managers and admins {doing}."


class RefusedKeys(Screen[None]):
    """Mixed into a screen: override `refusal(action)`."""

    def refusal(self, action: str) -> str | None:
        """Why the current agent may not run `action` (None: they may)."""
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.refusal(action) is not None:
            return None  # shown greyed out; the key comes to on_key below
        return super().check_action(action, parameters)

    def on_key(self, event: events.Key) -> None:
        for binding in self._bindings.key_to_bindings.get(event.key, []):
            reason = self.refusal(binding.action)
            if reason is not None:
                event.stop()
                self.notify(reason, severity="warning", timeout=5, markup=False)
                return
