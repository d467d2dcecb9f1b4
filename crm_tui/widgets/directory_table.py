"""The customer table: draws only the rows on screen, from a small buffer of rows.

The directory can hold a million customers, so this widget never holds them all.
It keeps a *buffer* of a few hundred consecutive rows (a window of the sorted
result) and draws the visible part with Textual's Line API. When the cursor gets
near an edge of the buffer, it posts `RowsWanted`; the screen fetches the next
window in a worker (keyset paging) and hands it back with `extend_after` /
`extend_before`. A move that runs past the buffer is remembered and finished when
the rows arrive, so `pagedown` pressed five times moves exactly five pages.

Customer values are text, never markup: every cell is built as plain segments
from `safe_text`, which makes control, escape and bidi characters visible.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from crm_tui.formatting import format_date, format_money
from crm_tui.models.read import DirectoryRow
from crm_tui.text import safe_text
from crm_tui.widgets.direct_lines import render_direct_lines

# Rows the buffer keeps at most, and how many a fetch asks for.
BUFFER_MAX = 600
FETCH_SIZE = 200
_STRIP_CACHE_SIZE = 512

Direction = Literal["after", "before"]


@dataclass(frozen=True)
class Column:
    key: str  # the directory's sort key
    label: str
    min_width: int
    weight: int  # share of spare width (0: fixed at min_width)
    priority: int  # lower stays longer when the terminal is narrow
    align: Literal["left", "right"] = "left"
    max_width: int = 60


COLUMNS: tuple[Column, ...] = (
    Column("name", "Name", 18, 3, 0, max_width=40),
    Column("email", "Email", 20, 3, 1, max_width=44),
    Column("status", "Status", 8, 0, 2),
    Column("plan", "Plan", 10, 1, 4, max_width=24),
    Column("mrr", "MRR", 11, 0, 3, "right"),
    Column("since", "Since", 10, 0, 6),
    Column("storefront", "Storefront", 10, 1, 7, max_width=20),
    Column("ltv", "Lifetime value", 14, 0, 5, "right"),
)
_GAP = 1


@lru_cache(maxsize=32)
def fit_columns(width: int) -> tuple[tuple[Column, int], ...]:
    """The columns that fit in `width` cells, in display order, with their widths.

    Columns are kept in priority order while their minimum widths fit; spare cells
    go to the flexible columns (Name and Email first) up to their maximum.
    """
    kept: list[Column] = []
    used = 0
    for column in sorted(COLUMNS, key=lambda c: c.priority):
        need = column.min_width + (_GAP if kept else 0)
        if used + need <= width:
            kept.append(column)
            used += need
    widths = {column.key: column.min_width for column in kept}
    spare = width - used
    flexible = [c for c in kept if c.weight]
    while spare > 0 and flexible:
        total_weight = sum(c.weight for c in flexible)
        given = 0
        for column in flexible:
            share = max(1, spare * column.weight // total_weight)
            share = min(share, column.max_width - widths[column.key], spare - given)
            widths[column.key] += share
            given += share
        flexible = [c for c in flexible if widths[c.key] < c.max_width]
        if given == 0:
            break
        spare -= given
    return tuple((column, widths[column.key]) for column in COLUMNS if column in kept)


MARK = "✓"  # before the name of a marked customer


def cell_text(row: DirectoryRow, key: str) -> str:
    """What a column shows for a row, as one safe line."""
    match key:
        case "name":
            name = safe_text(row.name)
            return f"{name} · {safe_text(row.company_name)}" if row.company_name else name
        case "email":
            return safe_text(row.email)
        case "status":
            return row.status if row.account_state == "active" else row.account_state
        case "plan":
            return safe_text(row.plan) or "—"
        case "mrr":
            return format_money(row.mrr_minor, row.currency)
        case "since":
            return format_date(row.registered_at)
        case "storefront":
            return safe_text(row.storefront)
        case "ltv":
            return format_money(row.ltv_minor, row.currency)
    raise KeyError(key)


def fit_cell(text: str, width: int, align: str) -> str:
    """`text` cut (with an ellipsis) or padded to exactly `width` terminal cells."""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    if align == "right":
        return " " * (width - cell_len(text)) + text
    return set_cell_size(text, width)


class DirectoryTable(Widget, can_focus=True):
    """A keyboard-driven window onto the sorted customer list."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", show=False, id="directory.cursor_down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="directory.cursor_up"),
        Binding("g,home", "first", "First", show=False, id="directory.first"),
        Binding("G,end", "last", "Last", show=False, id="directory.last"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="directory.page_down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="directory.page_up"),
        # A priority binding runs before the next key is read: keys typed ahead after
        # enter reach the customer's screen, not this table.
        Binding("enter", "open", "Open", priority=True, id="directory.open"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "directory-table--header",
        "directory-table--cursor",
        "directory-table--placeholder",
        "directory-table--marked",
        "directory-table--status-active",
        "directory-table--status-inactive",
        "directory-table--status-churned",
        "directory-table--status-blocked",
    }

    DEFAULT_CSS = """
    DirectoryTable {
        height: 1fr;
        width: 1fr;
    }
    DirectoryTable > .directory-table--header {
        text-style: bold;
        background: $panel;
        color: $text;
    }
    DirectoryTable > .directory-table--cursor {
        background: $primary 40%;
    }
    DirectoryTable:focus > .directory-table--cursor {
        background: $primary;
        color: $text;
    }
    DirectoryTable > .directory-table--marked {
        text-style: bold;
        color: $accent;
    }
    DirectoryTable > .directory-table--placeholder {
        color: $text-muted;
    }
    DirectoryTable > .directory-table--status-active { color: $status-active; }
    DirectoryTable > .directory-table--status-inactive { color: $status-inactive; }
    DirectoryTable > .directory-table--status-churned { color: $status-churned; }
    DirectoryTable > .directory-table--status-blocked { color: $status-blocked; }
    """

    class RowsWanted(Message):
        """The table needs rows after (or before) `key` to go on."""

        def __init__(self, table: DirectoryTable, direction: Direction, key: Any) -> None:
            super().__init__()
            self.table = table
            self.direction: Direction = direction
            self.key = key

    class EdgeWanted(Message):
        """The table needs the first (or last) window of the result: `g` / `G`."""

        def __init__(self, table: DirectoryTable, last: bool) -> None:
            super().__init__()
            self.table = table
            self.last = last

    class Opened(Message):
        def __init__(self, row: DirectoryRow) -> None:
            super().__init__()
            self.row = row

    class CursorMoved(Message):
        def __init__(self, row: DirectoryRow | None, position: int | None) -> None:
            super().__init__()
            self.row = row
            self.position = position  # 0-based index in the whole result, when known

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[DirectoryRow] = []
        self.top = 0  # buffer index of the first visible row
        self.cursor = 0  # buffer index of the cursor row
        self.at_start = True  # rows[0] is the first of the result
        self.at_end = True  # rows[-1] is the last of the result
        self.buffer_offset: int | None = 0  # the position of rows[0] in the whole result, if known
        self.sort_key = "name"
        self.sort_descending = False
        self.placeholder = ""
        self._pending_move = 0  # the part of a move that waits for rows
        self._waiting: set[Direction] = set()
        self._strips: OrderedDict[tuple[Any, ...], Strip] = OrderedDict()
        # Marking (space, ctrl+a) is the screen's; the table asks whether a row is
        # marked (part of each cached strip's key), and `marks_changed` redraws.
        self.is_marked: Callable[[int], bool] = lambda _customer_id: False

    # ----------------------------------------------------------- data from the screen

    def show(
        self,
        rows: list[DirectoryRow],
        *,
        at_start: bool,
        at_end: bool,
        buffer_offset: int | None,
        cursor_at_end: bool = False,
        keep_cursor_id: int | None = None,
    ) -> None:
        """Replace the whole buffer (a new search, filter, sort, or a jump to an end)."""
        self.rows = list(rows)
        self.at_start, self.at_end, self.buffer_offset = at_start, at_end, buffer_offset
        self._pending_move = 0
        self._waiting.clear()
        self.cursor = len(self.rows) - 1 if cursor_at_end and self.rows else 0
        if keep_cursor_id is not None:
            for index, row in enumerate(self.rows):
                if row.id == keep_cursor_id:
                    self.cursor = index
                    break
        self.top = max(0, self.cursor - self._visible_rows() + 1) if cursor_at_end else 0
        self._after_change()

    def extend_after(self, rows: list[DirectoryRow], at_end: bool) -> None:
        self._waiting.discard("after")
        self.rows.extend(rows)
        self.at_end = at_end
        excess = len(self.rows) - BUFFER_MAX
        drop = min(excess, self.top) if excess > 0 else 0
        if drop:
            del self.rows[:drop]
            self.top -= drop
            self.cursor -= drop
            self.at_start = False
            self.buffer_offset = None if self.buffer_offset is None else self.buffer_offset + drop
        self._finish_pending_move()

    def extend_before(self, rows: list[DirectoryRow], at_start: bool) -> None:
        self._waiting.discard("before")
        self.rows[:0] = rows
        self.top += len(rows)
        self.cursor += len(rows)
        self.at_start = at_start
        if at_start:
            self.buffer_offset = 0
        elif self.buffer_offset is not None:
            self.buffer_offset = max(0, self.buffer_offset - len(rows))
        excess = len(self.rows) - BUFFER_MAX
        keep_until = self.top + self._visible_rows()
        if excess > 0 and len(self.rows) - excess >= keep_until:
            del self.rows[len(self.rows) - excess :]
            self.at_end = False
        self._finish_pending_move()

    def fetch_failed(self) -> None:
        """A fetch did not come back: stop waiting, so the next move asks again."""
        self._waiting.clear()
        self._pending_move = 0
        self.refresh()  # the header shows the sort in force, even when no rows came

    @property
    def current_row(self) -> DirectoryRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def cursor_position(self) -> int | None:
        if self.buffer_offset is None or not self.rows:
            return None
        return self.buffer_offset + self.cursor

    def marks_changed(self) -> None:
        self.refresh()

    def set_sort(self, key: str, descending: bool) -> None:
        """The header's sort arrow. Not redrawn now: the re-sorted rows come with it."""
        self.sort_key, self.sort_descending = key, descending

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.refresh()

    # ---------------------------------------------------------------------- moving

    def _visible_rows(self) -> int:
        return max(1, self.size.height - 1)  # minus the header line

    def move_cursor(self, delta: int, *, keep_screen_row: bool = False) -> None:
        if not self.rows:
            return
        target = self.cursor + delta
        if target >= len(self.rows) and not self.at_end:
            self._pending_move = target - (len(self.rows) - 1)
            self._want("after")
        elif target < 0 and not self.at_start:
            self._pending_move = target
            self._want("before")
        else:
            self._pending_move = 0
        self._place_cursor(max(0, min(target, len(self.rows) - 1)), keep_screen_row)

    def _place_cursor(self, index: int, keep_screen_row: bool) -> None:
        old_cursor, old_top = self.cursor, self.top
        screen_row = self.cursor - self.top
        self.cursor = index
        visible = self._visible_rows()
        if keep_screen_row:
            self.top = self.cursor - screen_row
        self.top = min(self.top, self.cursor)
        self.top = max(self.top, self.cursor - visible + 1)
        self.top = max(0, min(self.top, max(0, len(self.rows) - visible)))
        self._prefetch()
        if self.top == old_top:
            # The view did not scroll: only the old and the new cursor lines change.
            self._after_change(lines=(old_cursor - self.top + 1, self.cursor - self.top + 1))
        else:
            self._after_change()

    def _finish_pending_move(self) -> None:
        pending, self._pending_move = self._pending_move, 0
        if pending:
            self.move_cursor(pending, keep_screen_row=abs(pending) > 1)
        else:
            self._prefetch()
            self._after_change()

    def _prefetch(self) -> None:
        """Ask for the next rows while two pages are still in hand, so moves never wait."""
        margin = 2 * self._visible_rows()
        if not self.at_end and len(self.rows) - self.cursor <= margin:
            self._want("after")
        if not self.at_start and self.cursor <= margin:
            self._want("before")

    def _want(self, direction: Direction) -> None:
        if direction in self._waiting or not self.rows:
            return
        self._waiting.add(direction)
        key = self.rows[-1].sort_key if direction == "after" else self.rows[0].sort_key
        self.post_message(self.RowsWanted(self, direction, key))

    def _after_change(self, lines: tuple[int, ...] = ()) -> None:
        if lines:
            width = self.size.width
            self.refresh(*(Region(0, y, width, 1) for y in lines))
        else:
            self.refresh()
        self.post_message(self.CursorMoved(self.current_row, self.cursor_position))

    # --------------------------------------------------------------------- actions

    def action_cursor_down(self) -> None:
        self.move_cursor(1)

    def action_cursor_up(self) -> None:
        self.move_cursor(-1)

    def action_page_down(self) -> None:
        self.move_cursor(self._visible_rows(), keep_screen_row=True)

    def action_page_up(self) -> None:
        self.move_cursor(-self._visible_rows(), keep_screen_row=True)

    def action_first(self) -> None:
        if self.at_start:
            self._pending_move = 0
            self._place_cursor(0, keep_screen_row=False)
        else:
            self.post_message(self.EdgeWanted(self, last=False))

    def action_last(self) -> None:
        if self.at_end:
            self._pending_move = 0
            self._place_cursor(max(0, len(self.rows) - 1), keep_screen_row=False)
        else:
            self.post_message(self.EdgeWanted(self, last=True))

    def action_open(self) -> None:
        row = self.current_row
        if row is not None:
            self.post_message(self.Opened(row))

    # ----------------------------------------------------------------------- mouse

    def on_click(self, event: events.Click) -> None:
        index = self.top + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.rows):
            self._place_cursor(index, keep_screen_row=False)
            if event.chain == 2:
                self.action_open()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.move_cursor(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.move_cursor(-3)

    def on_resize(self, _event: events.Resize) -> None:
        self._strips.clear()
        if self.rows:
            self._place_cursor(self.cursor, keep_screen_row=False)

    # ------------------------------------------------------------------- rendering

    def render_lines(self, crop: Region) -> list[Strip]:
        # Straight from our per-row strip cache: see widgets/direct_lines.py.
        return render_direct_lines(self, crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header_strip(width)
        index = self.top + y - 1
        if 0 <= index < len(self.rows):
            return self._row_strip(self.rows[index], index == self.cursor, width)
        if not self.rows and y == 2 and self.placeholder:
            style = self.get_component_rich_style("directory-table--placeholder")
            return Strip([Segment(fit_cell(f"  {self.placeholder}", width, "left"), style)])
        return self._blank_strip(width)

    def _blank_strip(self, width: int) -> Strip:
        key = ("blank", width)
        cached = self._strips.get(key)
        if cached is None:
            cached = self._strips[key] = Strip.blank(width, self.rich_style)
        return cached

    def _header_strip(self, width: int) -> Strip:
        key = ("header", width, self.sort_key, self.sort_descending)
        cached = self._strips.get(key)
        if cached is None:
            cached = self._strips[key] = self._build_header_strip(width)
        return cached

    def _build_header_strip(self, width: int) -> Strip:
        style = self.get_component_rich_style("directory-table--header")
        segments: list[Segment] = []
        for number, (column, column_width) in enumerate(fit_columns(width)):
            label = column.label
            if column.key == self.sort_key:
                label = f"{label} {'▼' if self.sort_descending else '▲'}"
            if number:
                segments.append(Segment(" " * _GAP, style))
            segments.append(Segment(fit_cell(label, column_width, column.align), style))
        return (
            Strip(list(Segment.simplify(segments))).extend_cell_length(width, style).crop(0, width)
        )

    def _row_strip(self, row: DirectoryRow, is_cursor: bool, width: int) -> Strip:
        marked = self.is_marked(row.id)
        key = (row.id, row.sort_key, is_cursor, self.has_focus, width, self.sort_key, marked)
        cached = self._strips.get(key)
        if cached is not None:
            self._strips.move_to_end(key)
            return cached
        base = self.rich_style
        if is_cursor:
            base = base + self.get_component_rich_style("directory-table--cursor")
        segments: list[Segment] = []
        for number, (column, column_width) in enumerate(fit_columns(width)):
            if number:
                segments.append(Segment(" " * _GAP, base))
            text = cell_text(row, column.key)
            style = self._cell_style(row, column.key, base, is_cursor)
            if marked and column.key == "name":
                # A mark you can read without colour (NO_COLOR, a monochrome terminal).
                text = f"{MARK} {text}"
                style = style + self.get_component_rich_style("directory-table--marked")
            segments.append(Segment(fit_cell(text, column_width, column.align), style))
        # Cells that share a style become one segment: every frame that scrolls pays
        # per segment (Textual's line filters rebuild each one), so fewer is faster.
        simple = list(Segment.simplify(segments))
        strip = Strip(simple).extend_cell_length(width, base).crop(0, width)
        self._strips[key] = strip
        if len(self._strips) > _STRIP_CACHE_SIZE:
            self._strips.popitem(last=False)
        return strip

    def _cell_style(self, row: DirectoryRow, key: str, base: Style, is_cursor: bool) -> Style:
        if key != "status" or is_cursor:
            return base
        state = "blocked" if row.account_state != "active" else row.status
        component = f"directory-table--status-{state}"
        if component not in self.COMPONENT_CLASSES:
            return base
        return base + Style(color=self.get_component_rich_style(component).color)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
