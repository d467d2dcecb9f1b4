"""`?`: the keys of the screen below, grouped by where they act, filtered as you type.

The keys are read from the screen's active bindings, so a key remapped in config.toml's
[keymap] shows as the agent's own key. A screen may add explanations of its own (the
analytics screen's definitions) by a `help_notes()` method returning (title, text) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static

GLOBAL = "Global"
# Widgets whose class name would mean nothing to an agent.
GROUP_NAMES = {"KeyScroll": "Scrolling", "RecordList": "List"}


@dataclass(frozen=True)
class KeyRow:
    group: str
    keys: str
    description: str

    def matches(self, words: list[str]) -> bool:
        text = f"{self.group} {self.keys} {self.description}".casefold()
        return all(word in text for word in words)


def _group_name(node: object) -> str:
    name = type(node).__name__
    for suffix in ("Screen", "Table"):
        if name.endswith(suffix) and name != suffix:
            name = name[: -len(suffix)]
    return GLOBAL if name in {"CrmApp", "App"} else GROUP_NAMES.get(name, name)


def key_rows(screen: Screen[object]) -> list[KeyRow]:
    """Every key the screen answers, one row per action (j and down share a row),
    the global keys first, then the groups by name."""
    seen: set[tuple[str, str]] = set()
    rows: list[KeyRow] = []
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or binding.system:
            continue
        group = _group_name(active.node)
        # One row per action: a widget that adds j/k to Textual's own arrow keys for
        # the same scroll would otherwise be listed twice, once under each name.
        if (group, binding.action) in seen:
            continue
        seen.add((group, binding.action))
        keys = ", ".join(screen.app.get_key_display(b) for b in _same_action(screen, active))
        rows.append(KeyRow(group, keys or key, binding.description))
    return sorted(rows, key=lambda row: (row.group != GLOBAL, row.group))


def _same_action(screen: Screen[object], active: ActiveBinding) -> list[Binding]:
    """The bindings of `active`'s node that run the same action (e.g. j and down)."""
    return [
        other.binding
        for other in screen.active_bindings.values()
        if other.binding.action == active.binding.action and other.node is active.node
    ]


def keys_table(rows: list[KeyRow]) -> Table:
    """The rows under a heading per group."""
    table = Table(box=None, padding=(0, 2), show_header=False, expand=True)
    table.add_column("Key", no_wrap=True, min_width=12)
    table.add_column("Does", ratio=1)
    group = None
    for row in rows:
        if row.group != group:
            if group is not None:
                table.add_row("", "")
            table.add_row(Text(row.group, style="bold underline"), "")
            group = row.group
        table.add_row(Text(row.keys, style="bold"), Text(row.description))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="help.close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #help-filter { border: none; height: 1; padding: 0; background: $boost; }
    HelpScreen VerticalScroll { height: auto; max-height: 1fr; }
    """

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below
        self.rows = key_rows(below)
        notes = getattr(below, "help_notes", None)
        self.notes: list[tuple[str, str]] = list(notes()) if callable(notes) else []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Keys · type to filter · escape closes", style="bold"))
            yield Input(placeholder="filter: a key or a word", id="help-filter")
            with VerticalScroll():
                yield Static(self._shown(""), id="help-keys")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#help-filter", Input))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#help-keys", Static).update(self._shown(event.value))

    def _shown(self, typed: str) -> RenderableType:
        words = typed.casefold().split()
        rows = [row for row in self.rows if row.matches(words)]
        notes = [
            (title, text)
            for title, text in self.notes
            if all(word in f"{title} {text}".casefold() for word in words)
        ]
        parts: list[RenderableType] = []
        if rows:
            parts.append(keys_table(rows))
        for title, text in notes:
            parts += [Text(""), Text(title, style="bold underline"), Text(text)]
        if not parts:
            parts.append(Text(f"No key or note matches “{typed}”.", style="italic"))
        return Group(*parts)

    def action_close(self) -> None:
        self.dismiss()
