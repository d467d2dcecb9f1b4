"""The directory's filters, in a dialog: `tab` between fields, `space` ticks a value.

Nothing is applied until every field is valid: a bad date or amount is named
next to the form and the directory keeps its current filters.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from crm_tui.formatting import format_major
from crm_tui.services.actor import Actor
from crm_tui.services.directory import (
    DirectoryFilters,
    DirectoryService,
    Facets,
    parse_amount_minor,
)
from crm_tui.text import safe_text

# (field of DirectoryFilters, field of Facets, label)
_CHOICE_LISTS = (
    ("statuses", "statuses", "Status"),
    ("plans", "plans", "Plan"),
    ("storefronts", "storefronts", "Storefront"),
    ("regions", "regions", "Region"),
    ("billing_groups", "billing_groups", "Billing group"),
)
_ANY = "any"


class FilterError(ValueError):
    pass


def _parse_date(text: str, label: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(f"{label}: “{safe_text(text)}” is not a date; write YYYY-MM-DD") from None


def _parse_amount(text: str, label: str) -> int | None:
    if not text.strip():
        return None
    try:
        return parse_amount_minor(text)
    except ValueError as error:
        raise FilterError(f"{label}: {safe_text(error)}") from None


def _segment_options() -> list[tuple[str, str]]:
    from crm_tui.services.membership import SEGMENT_NAMES  # loads the tables: on use

    return [(label, f"segment:{code}") for code, label in SEGMENT_NAMES.items()]


def _segment_of(filters: DirectoryFilters) -> str | None:
    return next((name for name in filters.sets if name.startswith("segment:")), None)


class FiltersScreen(ModalScreen[DirectoryFilters | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="filters.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="filters.apply"),
        Binding("ctrl+x", "clear", "Clear all", id="filters.clear"),
    ]
    DEFAULT_CSS = """
    FiltersScreen { align: center middle; }
    #filters-dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    #filters-fields { height: auto; max-height: 18; }
    #filters-dialog Label { margin-top: 1; color: $text-muted; }
    #filters-dialog SelectionList { height: auto; max-height: 5; border: none; }
    #filters-dialog Input { border: none; height: 1; width: 1fr; margin-right: 1; }
    #filters-dialog Select { width: 1fr; margin-right: 1; }
    #filters-dialog Horizontal { height: auto; }
    #filters-error { color: $error; height: auto; }
    #filters-buttons { height: 3; align-horizontal: right; }
    #filters-buttons Button { margin-left: 1; }
    """

    def __init__(self, service: DirectoryService, actor: Actor, current: DirectoryFilters) -> None:
        super().__init__()
        self.service, self.actor, self.current = service, actor, current

    def compose(self) -> ComposeResult:
        current = self.current
        with Vertical(id="filters-dialog"):
            yield Static(Text("Filters · tab: next field · space: tick · ctrl+s: apply"))
            with VerticalScroll(id="filters-fields"):
                for field, _facet, label in _CHOICE_LISTS:
                    yield Label(label)
                    yield SelectionList[str](id=f"filter-{field}")
                yield Label("Customer type · active subscription")
                with Horizontal():
                    yield Select(
                        [("individual", "individual"), ("business", "business")],
                        value=current.kind or Select.NULL,
                        prompt="any type",
                        id="filter-kind",
                    )
                    active = current.has_active_subscription
                    yield Select(
                        [("with an active subscription", "yes"), ("without one", "no")],
                        value=Select.NULL if active is None else ("yes" if active else "no"),
                        prompt="any subscription",
                        id="filter-active",
                    )
                yield Label("Segment")
                yield Select(
                    _segment_options(),
                    value=_segment_of(current) or Select.NULL,
                    prompt="any segment",
                    id="filter-segment",
                )
                yield Label("Registered from · to (YYYY-MM-DD)")
                with Horizontal():
                    yield self._input("filter-from", current.registered_from, "from")
                    yield self._input("filter-to", current.registered_to, "to")
                yield Label("Lifetime value at least · at most (e.g. 100.00)")
                with Horizontal():
                    yield self._amount_input("filter-ltv-min", current.ltv_min_minor, "minimum")
                    yield self._amount_input("filter-ltv-max", current.ltv_max_minor, "maximum")
            yield Static(id="filters-error")
            with Horizontal(id="filters-buttons"):
                yield Button("Cancel", id="filters-cancel")
                yield Button("Clear all", id="filters-clear")
                yield Button("Apply", id="filters-apply", variant="primary")

    @staticmethod
    def _input(widget_id: str, value: date | None, placeholder: str) -> Input:
        return Input(str(value) if value else "", placeholder=placeholder, id=widget_id)

    @staticmethod
    def _amount_input(widget_id: str, minor: int | None, placeholder: str) -> Input:
        text = format_major(minor).replace(",", "") if minor is not None else ""
        return Input(text, placeholder=placeholder, id=widget_id)

    def on_mount(self) -> None:
        self.query_one("#filter-statuses").focus()
        self._load_facets()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load_facets(self) -> None:
        try:
            facets = self.service.facets(self.actor)
        except Exception as error:
            self.app.call_from_thread(self._show_error, f"Could not read the choices: {error}")
            return
        self.app.call_from_thread(self._fill_choices, facets)

    def _fill_choices(self, facets: Facets) -> None:
        for field, facet, _label in _CHOICE_LISTS:
            chosen = set(getattr(self.current, field))
            values = list(getattr(facets, facet))
            values += sorted(chosen - set(values))  # a chosen value no longer in the data
            selection_list = self.query_one(f"#filter-{field}", SelectionList)
            selection_list.clear_options()
            selection_list.add_options(
                [Selection(Text(safe_text(value)), value, value in chosen) for value in values]
            )
            if values and selection_list.highlighted is None:
                selection_list.highlighted = 0

    def _show_error(self, text: str) -> None:
        self.query_one("#filters-error", Static).update(Text(text))

    # ------------------------------------------------------------------ reading

    def _text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def _select(self, widget_id: str) -> Any:
        value = self.query_one(f"#{widget_id}", Select).value
        return None if value is Select.NULL else value

    def read_filters(self) -> DirectoryFilters:
        """The filters the form holds; `FilterError` names the first bad field."""
        chosen = {
            field: tuple(self.query_one(f"#filter-{field}", SelectionList).selected)
            for field, _facet, _label in _CHOICE_LISTS
        }
        registered_from = _parse_date(self._text("filter-from"), "Registered from")
        registered_to = _parse_date(self._text("filter-to"), "Registered to")
        if registered_from and registered_to and registered_from > registered_to:
            raise FilterError("Registered from: the first date is after the second")
        ltv_min = _parse_amount(self._text("filter-ltv-min"), "Lifetime value at least")
        ltv_max = _parse_amount(self._text("filter-ltv-max"), "Lifetime value at most")
        if ltv_min is not None and ltv_max is not None and ltv_min > ltv_max:
            raise FilterError("Lifetime value: the minimum is above the maximum")
        active = self._select("filter-active")
        return DirectoryFilters(
            **chosen,
            kind=self._select("filter-kind"),
            registered_from=registered_from,
            registered_to=registered_to,
            has_active_subscription=None if active is None else active == "yes",
            ltv_min_minor=ltv_min,
            ltv_max_minor=ltv_max,
            sets=self._sets(),
        )

    def _sets(self) -> tuple[str, ...]:
        """The segment chosen here, and the queue's other sets, kept as they were."""
        kept = tuple(name for name in self.current.sets if not name.startswith("segment:"))
        segment = self._select("filter-segment")
        return (*kept, segment) if segment else kept

    # ------------------------------------------------------------------ actions

    def action_apply(self) -> None:
        try:
            filters = self.read_filters()
        except FilterError as error:
            self._show_error(str(error))
            return
        self.dismiss(filters)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_clear(self) -> None:
        self.dismiss(DirectoryFilters())

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#filters-apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#filters-clear")
    def _clear_pressed(self) -> None:
        self.action_clear()

    @on(Button.Pressed, "#filters-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()
