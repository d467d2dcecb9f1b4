"""A keyboard list of records (payments, activity events, notes) that draws only what shows.

A customer's history can hold thousands of records. This widget keeps them as
plain `ListRecord`s and draws the visible lines with Textual's Line API, so
5,000 activity events cost what 20 do. A record is one line of cells, plus
`sub_lines` always shown under it (a payment's refunds) and `detail_lines` shown
when the agent expands it with `enter` (an event's details).

Every value is text, never markup: cells are plain segments of `safe_text`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from crm_tui.text import safe_text
from crm_tui.widgets.direct_lines import render_direct_lines
from crm_tui.widgets.directory_table import fit_cell

_GAP = 1
_INDENT = "    "


@dataclass(frozen=True)
class ListColumn:
    label: str
    width: int  # cells; the flexible column takes what is left (at least this)
    align: Literal["left", "right"] = "left"
    flexible: bool = False


@dataclass(frozen=True, slots=True)
class ListRecord:
    key: Any
    cells: tuple[str, ...]
    style: str = ""  # a component class suffix for the whole line: "status-failed", "muted", …
    sub_lines: tuple[str, ...] = ()
    detail_lines: tuple[str, ...] = field(default=(), compare=False)
    # Or the details made only when the record is expanded (most never are).
    detail_source: Callable[[], tuple[str, ...]] | None = field(default=None, compare=False)

    @property
    def expands(self) -> bool:
        return bool(self.detail_lines) or self.detail_source is not None

    def details(self) -> tuple[str, ...]:
        return self.detail_source() if self.detail_source is not None else self.detail_lines


@dataclass(frozen=True)
class _Line:
    record: int  # index into records
    kind: Literal["main", "sub", "detail"]
    text: str = ""


def column_widths(columns: Sequence[ListColumn], width: int) -> list[int]:
    """Widths that fill `width`: fixed columns as given, the flexible one takes the rest.

    When the columns do not fit, the last ones are dropped (width 0): put the ones
    an agent needs most first."""

    def need(count: int) -> int:
        return sum(c.width for c in columns[:count]) + _GAP * (count - 1)

    keep = len(columns)
    while keep > 1 and need(keep) > width:
        keep -= 1
    widths = [column.width if index < keep else 0 for index, column in enumerate(columns)]
    for index, column in enumerate(columns[:keep]):
        if column.flexible:
            widths[index] += max(0, width - need(keep))
            break
    return widths


class RecordList(Widget, can_focus=True):
    """Records under a header line; `j`/`k`, page keys, `g`/`G`, `enter`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", show=False),
        Binding("k,up", "cursor_up", "Up", show=False),
        Binding("g,home", "first", "First", show=False),
        Binding("G,end", "last", "Last", show=False),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "record-list--header",
        "record-list--cursor",
        "record-list--sub",
        "record-list--detail",
        "record-list--empty",
        "record-list--muted",
        # A payment's status, in the theme's status colours (crm_tui/themes/status.py).
        "record-list--status-failed",
        "record-list--status-pending",
        "record-list--status-refunded",
    }

    DEFAULT_CSS = """
    RecordList { height: 1fr; }
    RecordList > .record-list--header { text-style: bold; background: $panel; }
    RecordList > .record-list--cursor { background: $primary 40%; }
    RecordList:focus > .record-list--cursor { background: $primary; color: $text; }
    RecordList > .record-list--sub { color: $text-muted; }
    RecordList > .record-list--detail { color: $text-muted; }
    RecordList > .record-list--empty { color: $text-muted; }
    RecordList > .record-list--muted { color: $text-muted; }
    RecordList > .record-list--status-failed { color: $status-failed; }
    RecordList > .record-list--status-pending { color: $status-pending; }
    RecordList > .record-list--status-refunded { color: $status-refunded; }
    """

    class Selected(Message):
        """`enter` on a record that does not expand."""

        def __init__(self, record_list: RecordList, record: ListRecord) -> None:
            super().__init__()
            self.record_list = record_list
            self.record = record

        @property
        def control(self) -> RecordList:
            return self.record_list

    def __init__(
        self,
        columns: Sequence[ListColumn],
        *,
        empty_text: str = "Nothing here yet.",
        expandable: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.empty_text = empty_text
        self.expandable = expandable
        self.records: list[ListRecord] = []
        self.expanded: set[Any] = set()
        self.cursor = 0  # record index
        self.top = 0  # line index of the first visible line
        self._lines: list[_Line] = []
        self._first_line: list[int] = []  # record index → its main line's index
        self._strips: dict[tuple[Any, ...], Strip] = {}
        self._placed_for = -1  # the height the scroll position was computed for

    # ------------------------------------------------------------------- data

    def set_records(self, records: Sequence[ListRecord], *, keep_key: Any = None) -> None:
        self.records = list(records)
        self.expanded &= {r.key for r in self.records}
        self.cursor = 0
        if keep_key is not None:
            for index, record in enumerate(self.records):
                if record.key == keep_key:
                    self.cursor = index
                    break
        self.top = 0
        self._relayout()
        self._scroll_to_cursor()
        self.refresh()

    def set_empty_text(self, text: str) -> None:
        self.empty_text = text
        self.refresh()

    @property
    def current(self) -> ListRecord | None:
        return self.records[self.cursor] if 0 <= self.cursor < len(self.records) else None

    def _relayout(self) -> None:
        """Flatten the records into display lines (cheap: one tuple per line)."""
        lines: list[_Line] = []
        first: list[int] = []
        for index, record in enumerate(self.records):
            first.append(len(lines))
            lines.append(_Line(index, "main"))
            lines.extend(_Line(index, "sub", text) for text in record.sub_lines)
            if record.key in self.expanded:
                lines.extend(_Line(index, "detail", text) for text in record.details())
        self._lines, self._first_line = lines, first
        self._strips.clear()

    # ----------------------------------------------------------------- moving

    def _visible(self) -> int:
        return max(1, self.size.height - 1)

    def _record_end(self, index: int) -> int:
        """The line index just after record `index`'s last line."""
        return self._first_line[index + 1] if index + 1 < len(self.records) else len(self._lines)

    def _scroll_to_cursor(self) -> None:
        if not self.records:
            self.top = 0
            return
        start, end = self._first_line[self.cursor], self._record_end(self.cursor)
        visible = self._visible()
        if start < self.top:
            self.top = start
        elif end > self.top + visible:
            self.top = max(start - max(0, visible - (end - start)), min(start, end - visible))
        self.top = max(0, min(self.top, max(0, len(self._lines) - visible)))

    def move(self, delta: int) -> None:
        if not self.records:
            return
        old_cursor, old_top = self.cursor, self.top
        self.cursor = max(0, min(len(self.records) - 1, self.cursor + delta))
        self._scroll_to_cursor()
        if self.top == old_top:
            self._refresh_records(old_cursor, self.cursor)
        else:
            self.refresh()

    def _refresh_records(self, *indexes: int) -> None:
        width = self.size.width
        regions = []
        for index in indexes:
            y = self._first_line[index] - self.top + 1
            if 1 <= y < self.size.height:
                regions.append(Region(0, y, width, 1))
        self.refresh(*regions)

    def action_cursor_down(self) -> None:
        self.move(1)

    def action_cursor_up(self) -> None:
        self.move(-1)

    def action_first(self) -> None:
        self.move(-len(self.records))

    def action_last(self) -> None:
        self.move(len(self.records))

    def action_page_down(self) -> None:
        self._page(1)

    def action_page_up(self) -> None:
        self._page(-1)

    def _page(self, direction: int) -> None:
        """Move by a screenful of lines (records can be several lines tall)."""
        if not self.records:
            return
        target_line = self._first_line[self.cursor] + direction * self._visible()
        target_line = max(0, min(len(self._lines) - 1, target_line))
        target = self._lines[target_line].record
        if target == self.cursor:
            target += direction
        self.top = max(0, self.top + direction * self._visible())
        self.move(target - self.cursor)
        self.refresh()

    def action_select(self) -> None:
        record = self.current
        if record is None:
            return
        if self.expandable and record.expands:
            self.toggle(record.key)
        else:
            self.post_message(self.Selected(self, record))

    def toggle(self, key: Any) -> None:
        self.expanded ^= {key}
        self._relayout()
        self._scroll_to_cursor()
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        line = self.top + event.y - 1
        if event.y >= 1 and 0 <= line < len(self._lines):
            self.move(self._lines[line].record - self.cursor)
            if event.chain == 2:
                self.action_select()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.move(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.move(-3)

    def on_resize(self, _event: events.Resize) -> None:
        self._strips.clear()
        self._scroll_to_cursor()

    def on_focus(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    # -------------------------------------------------------------- rendering

    def render_lines(self, crop: Region) -> list[Strip]:
        # Records set while the list was hidden (a tab not shown) were placed for a
        # height of one line; place them for the real height before drawing.
        if self._placed_for != self.size.height:
            self._placed_for = self.size.height
            self._scroll_to_cursor()
            self._strips.clear()
        return render_direct_lines(self, crop)  # see widgets/direct_lines.py

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._cached(("header", width), lambda: self._header(width))
        index = self.top + y - 1
        if not self.records:
            if y == 2:
                style = self.get_component_rich_style("record-list--empty")
                text = fit_cell(f"  {self.empty_text}", width, "left")
                return Strip([Segment(text, style)])
            return Strip.blank(width, self.rich_style)
        if index >= len(self._lines):
            return self._cached(("blank", width), lambda: Strip.blank(width, self.rich_style))
        line = self._lines[index]
        is_cursor = line.record == self.cursor and line.kind == "main"
        key = (index, is_cursor, width)
        return self._cached(key, lambda: self._line_strip(line, is_cursor, width))

    def _cached(self, key: tuple[Any, ...], build: Any) -> Strip:
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) > 1024:
                self._strips.clear()
            strip = self._strips[key] = build()
        return strip

    def _header(self, width: int) -> Strip:
        style = self.get_component_rich_style("record-list--header")
        return self._cells_strip([c.label for c in self.columns], width, style)

    def _line_strip(self, line: _Line, is_cursor: bool, width: int) -> Strip:
        record = self.records[line.record]
        base = self.rich_style
        if line.kind != "main":
            style = base + self.get_component_rich_style(f"record-list--{line.kind}")
            text = fit_cell(_INDENT + safe_text(line.text), width, "left")
            return Strip([Segment(text, style)])
        if is_cursor:
            style = base + self.get_component_rich_style("record-list--cursor")
        elif record.style and f"record-list--{record.style}" in self.COMPONENT_CLASSES:
            style = base + self.get_component_rich_style(f"record-list--{record.style}")
        else:
            style = base
        marker = ""
        if self.expandable and record.expands:
            marker = "▾ " if record.key in self.expanded else "▸ "
        cells = [safe_text(cell) for cell in record.cells]
        if cells:
            cells[0] = marker + cells[0]
        return self._cells_strip(cells, width, style)

    def _cells_strip(self, cells: Sequence[str], width: int, style: Style) -> Strip:
        parts: list[str] = []
        for column, column_width, cell in zip(
            self.columns, column_widths(self.columns, width), cells, strict=False
        ):
            if column_width:
                parts.append(fit_cell(cell, column_width, column.align))
        text = (" " * _GAP).join(parts)
        return Strip([Segment(fit_cell(text, width, "left"), style)])
