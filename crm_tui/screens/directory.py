"""The directory: find any customer among millions, keyboard only.

The screen owns the query (search text, filters, sort) and talks to the
DirectoryService in thread workers; the table only draws. Every answer carries
the *generation* of the query it was asked for, so a result that arrives after
the agent typed again is dropped instead of flashing stale rows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from crm_tui.models.read import DirectoryRow
from crm_tui.screens.directory_marks import Marks
from crm_tui.screens.filters import FiltersScreen
from crm_tui.screens.refused_keys import RefusedKeys, manager_reason, read_only_reason
from crm_tui.services.actor import Actor
from crm_tui.services.directory import (
    SORT_COLUMNS,
    DirectoryFilters,
    DirectoryQuery,
    DirectoryService,
    MatchCount,
    QueryStopped,
    Sort,
)
from crm_tui.text import safe_text
from crm_tui.widgets.directory_table import COLUMNS, FETCH_SIZE, DirectoryTable

if TYPE_CHECKING:
    from collections.abc import Callable

    from crm_tui.screens.bulk_dialog import BulkAction
    from crm_tui.services.queues import Queue

SEARCH_MAX_LENGTH = 200
_COLUMN_LABELS = {column.key: column.label for column in COLUMNS}


class RowsLoaded(Message):
    def __init__(
        self, generation: int, rows: list[DirectoryRow], edge: str, keep_cursor_id: int | None
    ) -> None:
        super().__init__()
        self.generation, self.rows, self.edge = generation, rows, edge
        self.keep_cursor_id = keep_cursor_id


class MoreRowsLoaded(Message):
    def __init__(self, generation: int, rows: list[DirectoryRow], direction: str) -> None:
        super().__init__()
        self.generation, self.rows, self.direction = generation, rows, direction


class CountLoaded(Message):
    def __init__(self, generation: int, count: MatchCount) -> None:
        super().__init__()
        self.generation, self.count = generation, count


class LoadFailed(Message):
    def __init__(self, generation: int, reason: str) -> None:
        super().__init__()
        self.generation, self.reason = generation, reason


def _reason(error: Exception) -> str:
    original = getattr(error, "orig", None)
    return safe_text(str(original or error).strip().splitlines()[0] if str(error) else error)


# Keys that change customers: greyed out, and explained, in a read-only session.
_CHANGE_ACTIONS = frozenset({"new_customer", "bulk_tag", "bulk_assign", "campaign", "merge"})


class DirectoryScreen(RefusedKeys):
    # Priority bindings run as the key is read, before the next key is delivered, so an
    # agent typing ahead over SSH ("/ada⏎G" in one burst) gets every key where it
    # belongs. `check_action` turns the letter keys off while the search box has focus.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", priority=True, id="directory.search"),
        Binding("f", "filters", "Filters", priority=True, id="directory.filters"),
        Binding("s", "sort_next", "Sort", priority=True, id="directory.sort"),
        Binding(
            "S",
            "sort_reverse",
            "Reverse sort",
            show=False,
            priority=True,
            id="directory.sort_reverse",
        ),
        Binding("N", "new_customer", "New", show=False, priority=True, id="directory.new_customer"),
        Binding("colon", "queues", "Queues", priority=True, id="directory.queues"),
        Binding("space", "toggle_mark", "Mark", show=False, priority=True, id="directory.mark"),
        Binding(
            "ctrl+a", "mark_all", "Mark all", show=False, priority=True, id="directory.mark_all"
        ),
        Binding("t", "bulk_tag", "Tag marked", show=False, priority=True, id="directory.bulk_tag"),
        Binding(
            "a", "bulk_assign", "Assign marked", show=False, priority=True, id="directory.assign"
        ),
        Binding(
            "e", "bulk_export", "Export marked", show=False, priority=True, id="directory.export"
        ),
        Binding(
            "M", "campaign", "Email campaign", show=False, priority=True, id="directory.campaign"
        ),
        Binding(
            "equals_sign",
            "merge",
            "Merge two marked",
            show=False,
            priority=True,
            id="directory.merge",
        ),
        Binding("A", "approvals", "Approvals", show=False, priority=True, id="directory.approvals"),
        Binding("I", "analytics", "Analytics", show=False, priority=True, id="directory.analytics"),
        Binding(
            "c", "copy('email')", "Copy email", show=False, priority=True, id="directory.copy_email"
        ),
        Binding("i", "copy('id')", "Copy id", show=False, priority=True, id="directory.copy_id"),
        Binding("enter", "leave_search", "Results", show=False, priority=True, id="search.done"),
        Binding("escape", "escape", "Clear", show=False, priority=True, id="directory.escape"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="directory.reload"),
    ]
    _LETTER_ACTIONS = frozenset(
        {
            "focus_search",
            "filters",
            "sort_next",
            "sort_reverse",
            "new_customer",
            "queues",
            "copy",
            "toggle_mark",
            "mark_all",
            "campaign",
            "merge",
            "bulk_tag",
            "bulk_assign",
            "bulk_export",
            "approvals",
            "analytics",
        }
    )

    def __init__(self, *, readonly: bool = False) -> None:
        super().__init__()
        self.service: DirectoryService | None = None
        self.actor: Actor | None = None
        self.database_label = ""
        self.readonly = readonly
        self.search_timer: Timer | None = None
        self.last_audited_search: DirectoryQuery | None = None
        self.directory_query = DirectoryQuery()
        self.match_count: MatchCount | None = None
        self.generation = 0
        self.position: int | None = None
        self.notice = "Opening the database…"
        self._left = False  # another screen is (or was) on top: reload on return
        self.queue: Queue | None = None  # the queue opened last, while its view holds
        self.marks = Marks()

    def compose(self) -> ComposeResult:
        yield Static(Text("crm-tui · customers"), id="title-bar")
        yield Input(
            placeholder="/ search: name, email, #id, company, phone, subscription id",
            max_length=SEARCH_MAX_LENGTH,
            id="search",
        )
        yield DirectoryTable(id="table")
        yield Static(id="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.table.is_marked = self.marks.is_marked
        self.table.focus()
        self.table.set_placeholder(self.notice)
        self._update_status()

    @property
    def table(self) -> DirectoryTable:
        return self.query_one(DirectoryTable)

    @property
    def search_input(self) -> Input:
        return self.query_one("#search", Input)

    # ------------------------------------------------------------ from the app

    def attach(self, service: DirectoryService, actor: Actor, database_label: str) -> None:
        self.service, self.actor, self.database_label = service, actor, database_label
        self.readonly = self.readonly or actor.readonly
        mode = "READ-ONLY · " if self.readonly else ""
        self.query_one("#title-bar", Static).update(
            Text(f"crm-tui · {mode}customers · {safe_text(database_label)}", no_wrap=True)
        )
        self.reload()

    def set_notice(self, text: str) -> None:
        self.notice = text
        if self.is_mounted and not self.table.rows:
            self.table.set_placeholder(text)

    def show_failure(self, text: str) -> None:
        self.notice = text
        if self.is_mounted:
            self.table.show([], at_start=True, at_end=True, buffer_offset=0)
            self.table.set_placeholder(text)

    # -------------------------------------------------------------------- queries

    def reload(self, *, keep_cursor_id: int | None = None, edge: str = "first") -> None:
        """Ask for the first (or last) window of the current query, and its count."""
        if self.service is None:
            return
        if not self.marks.follows(self.directory_query):
            # "Every match" was of another search: it cannot silently become this one.
            self.marks.clear()
            self.table.marks_changed()
            self.notify("Marks cleared: the search or filters changed.", timeout=3)
        self.generation += 1
        if edge == "first":
            self.match_count = None
        self._update_status()
        self._load(self.generation, self.directory_query, edge, keep_cursor_id)

    @work(thread=True, exclusive=True, group="directory-query", exit_on_error=False)
    def _load(
        self, generation: int, query: DirectoryQuery, edge: str, keep_cursor_id: int | None
    ) -> None:
        assert self.service is not None and self.actor is not None
        worker = get_current_worker()

        def superseded() -> bool:
            return worker.is_cancelled or generation != self.generation

        try:
            rows = self.service.window(
                query,
                self.actor,
                limit=FETCH_SIZE,
                from_end=edge == "last",
                should_stop=superseded,
            )
            if superseded():
                return
            self.post_message(RowsLoaded(generation, rows, edge, keep_cursor_id))
            if edge == "first":
                count = self.service.count(query, self.actor, should_stop=superseded)
                if not superseded():
                    self.post_message(CountLoaded(generation, count))
        except QueryStopped:
            return
        except Exception as error:
            self.post_message(LoadFailed(generation, _reason(error)))

    @work(thread=True, group="directory-page", exit_on_error=False)
    def _load_more(self, generation: int, query: DirectoryQuery, direction: str, key: Any) -> None:
        assert self.service is not None and self.actor is not None
        try:
            if direction == "after":
                rows = self.service.window(query, self.actor, after=key, limit=FETCH_SIZE)
            else:
                rows = self.service.window(query, self.actor, before=key, limit=FETCH_SIZE)
        except Exception as error:
            self.post_message(LoadFailed(generation, _reason(error)))
            return
        self.post_message(MoreRowsLoaded(generation, rows, direction))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        if message.generation != self.generation:
            return
        complete = len(message.rows) < FETCH_SIZE  # the whole result is in this window
        if message.edge == "last" and not complete:
            count = self.match_count
            exact = count is not None and not count.capped
            self.table.show(
                message.rows,
                at_start=False,
                at_end=True,
                buffer_offset=count.value - len(message.rows) if count and exact else None,
                cursor_at_end=True,
            )
        else:
            self.table.show(
                message.rows,
                at_start=True,
                at_end=complete,
                buffer_offset=0,
                cursor_at_end=message.edge == "last",
                keep_cursor_id=message.keep_cursor_id,
            )
        self.table.set_placeholder("" if message.rows else self._empty_text())

    def on_more_rows_loaded(self, message: MoreRowsLoaded) -> None:
        if message.generation != self.generation:
            return
        reached_edge = len(message.rows) < FETCH_SIZE
        if message.direction == "after":
            self.table.extend_after(message.rows, at_end=reached_edge)
        else:
            self.table.extend_before(message.rows, at_start=reached_edge)

    def on_count_loaded(self, message: CountLoaded) -> None:
        if message.generation == self.generation:
            self.match_count = message.count
            self._update_status()
            self._audit_search_when_settled()

    # A search is recorded in the audit trail once it has stood still for this
    # long: the search the agent read, not each keystroke on the way to it.
    SEARCH_SETTLES = 1.5

    def _audit_search_when_settled(self) -> None:
        query = self.directory_query
        if not (query.search or query.filters.active) or query == self.last_audited_search:
            return
        if self.search_timer is not None:
            self.search_timer.stop()
        self.search_timer = self.set_timer(self.SEARCH_SETTLES, self._audit_search)

    def _audit_search(self) -> None:
        query, count = self.directory_query, self.match_count
        if count is None or query == self.last_audited_search:
            return  # changed again since: its own count will schedule it
        self.last_audited_search = query
        self._record_search(query, count)

    @work(thread=True, group="audit-search", exit_on_error=False)
    def _record_search(self, query: DirectoryQuery, count: MatchCount) -> None:
        assert self.service is not None and self.actor is not None
        try:
            self.service.record_search(query, self.actor, count)
        except Exception as error:  # shown, and tried again with the next search
            self.last_audited_search = None
            self.app.call_from_thread(
                self.notify,
                f"Could not record the search in the audit trail: {error}",
                severity="warning",
                markup=False,
            )

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.generation != self.generation:
            return
        self.table.fetch_failed()
        if not self.table.rows:
            self.table.set_placeholder(
                f"Could not read the customers: {message.reason}. Press ctrl+r to try again."
            )
        self.notify(
            message.reason, title="Could not read the customers", severity="error", markup=False
        )

    # --------------------------------------------------------------- from the table

    @on(DirectoryTable.RowsWanted)
    def _rows_wanted(self, message: DirectoryTable.RowsWanted) -> None:
        self._load_more(self.generation, self.directory_query, message.direction, message.key)

    @on(DirectoryTable.EdgeWanted)
    def _edge_wanted(self, message: DirectoryTable.EdgeWanted) -> None:
        self.reload(edge="last" if message.last else "first")

    @on(DirectoryTable.CursorMoved)
    def _cursor_moved(self, message: DirectoryTable.CursorMoved) -> None:
        self.position = message.position
        self._update_status()

    @on(DirectoryTable.Opened)
    def _opened(self, message: DirectoryTable.Opened) -> None:
        open_customer = getattr(self.app, "open_customer", None)
        if open_customer is not None:
            open_customer(message.row.id)

    # --------------------------------------------------------------------- search

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.directory_query = self.directory_query.with_search(event.value)
        self.reload()

    def _typing_in_search(self) -> bool:
        # `self.focused`, not `has_focus`: the latter follows the Focus event, which lags
        # behind a burst of keys that are already being dispatched.
        return self.is_mounted and self.focused is self.search_input

    def refusal(self, action: str) -> str | None:
        if self._typing_in_search():
            return None  # the key types
        if action == "approvals":
            return manager_reason(self.actor, "approve requests")
        if action in _CHANGE_ACTIONS and self.readonly:
            return read_only_reason(self.actor) or "Read-only: nothing can be changed here."
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        typing = self._typing_in_search()
        if self.refusal(action) is not None:
            return None  # greyed out; pressed, on_key says why
        if action in self._LETTER_ACTIONS:
            return None if typing else True  # None: shown greyed out, the key types
        if action == "leave_search":
            return typing
        return True

    # Focus moves with `set_focus`, at once: `focus()` waits for the queue, and the
    # keys typed right after `/` or `escape` would reach the wrong widget.
    def action_focus_search(self) -> None:
        self.set_focus(self.search_input)

    def action_leave_search(self) -> None:
        self.set_focus(self.table)

    def action_escape(self) -> None:
        """Leave the search box; from the table, clear the search (then the filters)."""
        if self._typing_in_search():
            self.set_focus(self.table)
        elif self.directory_query.search:
            self.search_input.value = ""  # Input.Changed reloads
        elif self.directory_query.filters.active:
            self.set_filters(DirectoryFilters())

    # -------------------------------------------------------------- filters, sort

    def action_new_customer(self) -> None:
        new_customer = getattr(self.app, "new_customer", None)
        if new_customer is not None:
            new_customer()

    # -------------------------------------------------------------------- marking

    def action_toggle_mark(self) -> None:
        row = self.table.current_row
        if row is None:
            return
        had_marks = bool(self.marks)
        self.marks.toggle(row.id)
        self.table.move_cursor(1)  # space, space, space marks a run of rows
        self._marks_changed(had_marks)

    def action_mark_all(self) -> None:
        """Every customer matching the search and filters (again: none)."""
        had_marks = bool(self.marks)
        if self.marks.all_of is not None and not self.marks.ids:
            self.marks.clear()
        else:
            self.marks.mark_all(self.directory_query)
        self._marks_changed(had_marks)

    def _marks_changed(self, had_marks: bool) -> None:
        self.table.marks_changed()
        self._update_status()
        if self.marks and not had_marks:  # the first mark: say what can be done now
            self.notify(
                "t tag · a assign · e export · M email · = merge two · ctrl+a all/none",
                title="Marked",
                timeout=4,
                markup=False,
            )

    # --------------------------------------------------------------- bulk actions

    def _marked_or_say(self, changes: bool = True) -> bool:
        if self.service is None or self.actor is None:
            self.notify("The database is still opening.", severity="warning")
            return False
        if self.readonly and changes:
            self.notify("Read-only: bulk actions are not possible here.", severity="warning")
            return False
        if not self.marks:
            self.notify("Mark customers first: space marks one, ctrl+a every match.", timeout=4)
            return False
        return True

    def _bulk(self, build: Callable[..., BulkAction], changes: bool = True) -> None:
        """Open the bulk dialog for an action built over the marks; reload after."""
        if not self._marked_or_say(changes):
            return
        assert self.service is not None and self.actor is not None
        from crm_tui.screens.bulk_dialog import BulkDialog

        action = build(
            self.service, self.actor, self.marks.all_of, set(self.marks.ids), self.marks.describe()
        )
        marked = f"{self.marks.count(self.match_count)} marked"
        self.app.push_screen(BulkDialog(action, marked), lambda _outcome: self.action_reload())

    def action_bulk_tag(self) -> None:
        """t: add a tag to every marked customer (one transaction)."""
        from crm_tui.screens.bulk_actions import tag_action

        self._bulk(tag_action)

    def action_bulk_assign(self) -> None:
        """a: assign every marked customer to an agent (one transaction)."""
        from crm_tui.screens.bulk_actions import assign_action

        self._bulk(assign_action)

    def action_bulk_export(self) -> None:
        """e: write the marked customers to a CSV file (a read: read-only agents too)."""
        from crm_tui.screens.bulk_actions import export_action

        self._bulk(export_action, changes=False)

    def action_campaign(self) -> None:
        """M: send an email template to every marked customer."""
        if not self._marked_or_say():
            return
        assert self.service is not None and self.actor is not None
        from crm_tui.screens.bulk_actions import campaign_action
        from crm_tui.screens.bulk_dialog import BulkDialog

        action = campaign_action(
            self.service,
            self.actor,
            self.app,
            self.marks.all_of,
            set(self.marks.ids),
            self.marks.describe(),
        )
        marked = f"{self.marks.count(self.match_count)} marked"
        self.app.push_screen(BulkDialog(action, marked))

    def action_merge(self) -> None:
        """=: merge the two marked customers (duplicates), keeping the one typed."""
        if not self._marked_or_say():
            return
        assert self.service is not None and self.actor is not None
        if self.marks.all_of is not None or len(self.marks.ids) != 2:
            self.notify("Mark exactly two customers (space on each) to merge them.", timeout=4)
            return
        from crm_tui.screens.bulk_actions import merge_action
        from crm_tui.screens.bulk_dialog import BulkDialog

        approvals = self.app.merge_approvals()  # type: ignore[attr-defined]
        action = merge_action(self.service, self.actor, sorted(self.marks.ids), approvals)
        self.app.push_screen(BulkDialog(action, "2 marked"), self._after_merge)

    def _after_merge(self, outcome: str | None) -> None:
        if outcome and outcome.startswith("Merged"):
            self.marks.clear()  # one of the two is gone
            self.table.marks_changed()
            self.action_reload()

    def action_copy(self, what: str) -> None:
        """The selected customer's email or id to the clipboard, by OSC 52: the terminal
        on the agent's own machine takes it, over SSH too (in tmux: set-clipboard on)."""
        row = self.table.current_row
        if row is None:
            self.notify("No customer selected.", timeout=3)
            return
        text = row.email if what == "email" else str(row.id)
        if not text:
            self.notify("This customer has no email.", timeout=3)
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {what} {safe_text(text)}", timeout=3, markup=False)

    def action_analytics(self) -> None:
        if self.service is None or self.actor is None:
            self.notify("The database is still opening.", severity="warning")
            return
        self.app.open_analytics()  # type: ignore[attr-defined]

    def action_approvals(self) -> None:
        if self.service is None or self.actor is None:
            self.notify("The database is still opening.", severity="warning")
            return
        self.app.open_approvals()  # type: ignore[attr-defined]

    def action_queues(self) -> None:
        if self.service is None or self.actor is None:
            self.notify("The database is still opening.", severity="warning")
            return
        # Imported on first use: queues load the tables (SQLModel), off cold start.
        from crm_tui.screens.queue_picker import QueuePicker
        from crm_tui.services.queues import QueueService

        picker = QueuePicker(
            QueueService(self.service.engine), self.service, self.actor, self.directory_query
        )
        self.app.push_screen(picker, self.open_queue)

    def restore(self, query: DirectoryQuery, queue_name: str = "") -> None:
        """The view the agent left last time (before `attach`, which reads it)."""
        from crm_tui.services.queues import Queue

        self.directory_query = query
        self.queue = Queue(queue_name, query) if queue_name else None
        self.table.set_sort(query.sort.column, query.sort.descending)
        with self.prevent(Input.Changed):
            self.search_input.value = query.search

    def open_queue(self, queue: Queue | None) -> None:
        """Show a queue: its search, filters and sort, from the first row."""
        if queue is None:
            return
        self.queue = queue
        self.directory_query = queue.query
        self.table.set_sort(queue.query.sort.column, queue.query.sort.descending)
        with self.prevent(Input.Changed):
            self.search_input.value = queue.query.search
        self.set_focus(self.table)
        self.reload()

    def action_filters(self) -> None:
        if self.service is None or self.actor is None:
            self.notify("The database is still opening.", severity="warning")
            return
        dialog = FiltersScreen(self.service, self.actor, self.directory_query.filters)
        self.app.push_screen(dialog, self._filters_chosen)

    def _filters_chosen(self, filters: DirectoryFilters | None) -> None:
        if filters is not None:
            self.set_filters(filters)

    def set_filters(self, filters: DirectoryFilters) -> None:
        self.directory_query = replace(self.directory_query, filters=filters)
        self.reload()

    def set_sort(self, column: str, descending: bool) -> None:
        self.directory_query = replace(self.directory_query, sort=Sort(column, descending))
        self.table.set_sort(column, descending)
        current = self.table.current_row
        self.reload(keep_cursor_id=current.id if current else None)

    def action_sort_next(self) -> None:
        columns = list(SORT_COLUMNS)
        following = columns[(columns.index(self.directory_query.sort.column) + 1) % len(columns)]
        self.set_sort(following, False)

    def action_sort_reverse(self) -> None:
        self.set_sort(self.directory_query.sort.column, not self.directory_query.sort.descending)

    def on_screen_suspend(self) -> None:
        self._left = True

    def on_screen_resume(self) -> None:
        # Back from a profile or a dialog: what was done there (a plan change, a
        # refund, an edit) shows in the rows at once, with the cursor kept.
        if self._left:
            self._left = False
            self.action_reload()

    def action_reload(self) -> None:
        current = self.table.current_row
        self.reload(keep_cursor_id=current.id if current else None)

    def refresh_for(self, changes: Any) -> None:
        """Customers on screen were changed by someone: read the window again, cursor kept.
        (A change elsewhere does not move the list under the agent; ctrl+r does.)"""
        if self.service is None or self._typing_in_search():
            return
        if changes.touches_any({row.id for row in self.table.rows}):
            self.action_reload()

    # ------------------------------------------------------------------ status line

    def _empty_text(self) -> str:
        search = self.directory_query.search
        if search or self.directory_query.filters.active:
            what = f"“{safe_text(search)}”" if search else "these filters"
            return (
                f"No customer matches {what}. Press escape to clear the search, "
                "or f to change the filters."
            )
        return (
            "No customers in this database yet. Import some with "
            "`crm-tui import customers FILE.csv`, or start `crm-tui --demo`."
        )

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        parts: list[str] = []
        count = self.match_count
        if count is None:
            parts.append("counting…" if self.service else self.notice)
        else:
            noun = "customer" if count.value == 1 and not count.capped else "customers"
            where = f"{self.position + 1:,} of " if self.position is not None else ""
            parts.append(f"{where}{count} {noun}")
        if self.marks:
            parts.insert(0, f"{self.marks.count(self.match_count)} marked")
        if self.queue is not None and self.queue.query == self.directory_query:
            parts.insert(0, f"queue: {self.queue.name}")
        arrow = "▼" if self.directory_query.sort.descending else "▲"
        parts.append(f"sort: {_COLUMN_LABELS[self.directory_query.sort.column]} {arrow}")
        parts.extend(self.directory_query.filters.describe())
        if self.readonly:
            parts.append("read-only")
        status = Text(safe_text(" · ".join(parts)), no_wrap=True)
        # One line, always: no layout pass (it costs more than the whole cursor move).
        self.query_one("#status-line", Static).update(status, layout=False)
