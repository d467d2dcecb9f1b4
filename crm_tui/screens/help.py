"""`?`: the keys of the screen below, grouped by where they act."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def _group_name(node: object) -> str:
    name = type(node).__name__
    for suffix in ("Screen", "Table"):
        if name.endswith(suffix) and name != suffix:
            name = name[: -len(suffix)]
    return "Global" if name in {"CrmApp", "App"} else name


def bindings_table(screen: Screen[object]) -> Table:
    """Every key the screen answers, with the node that handles it."""
    table = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
    table.add_column("Where", no_wrap=True)
    table.add_column("Key", no_wrap=True)
    table.add_column("Does")
    seen: set[tuple[str, str]] = set()
    rows: list[tuple[str, str, str]] = []
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or binding.system:
            continue
        group = _group_name(active.node)
        entry = (group, binding.description)
        if entry in seen:
            continue
        seen.add(entry)
        keys = ", ".join(screen.app.get_key_display(b) for b in _same_action(screen, active))
        rows.append((group, keys or key, binding.description))
    for group, keys, description in sorted(rows, key=lambda row: (row[0] != "Global", row[0])):
        table.add_row(Text(group), Text(keys), Text(description))
    return table


def _same_action(screen: Screen[object], active: ActiveBinding) -> list[Binding]:
    """The bindings of `active`'s node that run the same action (e.g. j and down)."""
    return [
        other.binding
        for other in screen.active_bindings.values()
        if other.binding.action == active.binding.action and other.node is active.node
    ]


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 70; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("Keys · escape closes", style="bold"))
            yield Static(bindings_table(self.below))

    def action_close(self) -> None:
        self.dismiss()
