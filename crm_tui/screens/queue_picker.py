"""`:` in the directory: the queue picker and command line.

Type to narrow the queues (tab completes a name), up/down to choose, enter to
open one. Two commands: `save NAME` keeps the current search, filters and sort
as the agent's own queue; `delete NAME` removes one of theirs. Each queue shows
its live count, filled in as the counts come back.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.directory import DirectoryQuery, DirectoryService, MatchCount
from crm_tui.services.queues import Queue, QueueService
from crm_tui.text import safe_text

COMMANDS = ("save ", "delete ")


class QueuePicker(ModalScreen[Queue | None]):
    DEFAULT_CSS = """
    QueuePicker { align: center middle; }
    #queue-dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: tall $primary; background: $surface; padding: 0 1;
    }
    #queue-list {
        height: auto; max-height: 14; border: none; padding: 0;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    #queue-message { color: $warning; height: auto; }
    #queue-hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", priority=True, id="queues.close"),
        Binding("down", "move(1)", "Next", show=False, priority=True, id="queues.next"),
        Binding("up", "move(-1)", "Previous", show=False, priority=True, id="queues.previous"),
        Binding("tab", "complete", "Complete", show=False, priority=True, id="queues.complete"),
    ]

    def __init__(
        self,
        queues: QueueService,
        directory: DirectoryService,
        actor: Actor,
        current: DirectoryQuery,
    ) -> None:
        super().__init__()
        self.queues, self.directory, self.actor, self.current = queues, directory, actor, current
        self.all: list[Queue] = []
        self.shown: list[Queue] = []
        self.counts: dict[str, MatchCount] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="queue-dialog"):
            yield Static(Text("Queues", style="bold"))
            yield Input(
                placeholder="a queue's name · save NAME · delete NAME",
                id="queue-command",
                select_on_focus=False,
            )
            yield OptionList(id="queue-list")
            yield Static(id="queue-message")
            yield Static(
                Text("enter open · tab complete · ↑↓ choose · escape close"), id="queue-hint"
            )

    @property
    def command(self) -> Input:
        return self.query_one("#queue-command", Input)

    @property
    def options(self) -> OptionList:
        return self.query_one("#queue-list", OptionList)

    def on_mount(self) -> None:
        self.set_focus(self.command)
        self._load()

    # ------------------------------------------------------------------ loading

    @work(thread=True, exclusive=True, group="queue-list", exit_on_error=False)
    def _load(self) -> None:
        try:
            queues = self.queues.queues(self.actor)
        except Exception as error:
            self.app.call_from_thread(self._say, f"Could not read the queues: {error}")
            return
        self.app.call_from_thread(self._show_queues, queues)
        for queue in queues:  # counts one by one, shown as they arrive
            try:
                count = self.directory.count(queue.query, self.actor)
            except Exception:
                continue
            self.app.call_from_thread(self._show_count, queue.name, count)

    def _show_queues(self, queues: list[Queue]) -> None:
        self.all = queues
        names = [q.name for q in queues]
        own = [f"delete {q.name}" for q in queues if not q.built_in]
        self.command.suggester = SuggestFromList([*names, "save ", *own], case_sensitive=False)
        self._narrow(self.command.value)

    def _show_count(self, name: str, count: MatchCount) -> None:
        self.counts[name] = count
        self._narrow(self.command.value)

    # ---------------------------------------------------------------- the list

    @on(Input.Changed, "#queue-command")
    def _typed(self, event: Input.Changed) -> None:
        self._say("")
        self._narrow(event.value)

    def _narrow(self, text: str) -> None:
        wanted = text.strip().casefold()
        if wanted.startswith(COMMANDS):
            wanted = wanted.split(" ", 1)[1].strip()
        highlighted = self.options.highlighted
        keep = self.shown[highlighted].name if highlighted is not None and self.shown else None
        self.shown = [q for q in self.all if wanted in q.name.casefold()]
        self.options.clear_options()
        self.options.add_options([Option(self._line(q)) for q in self.shown])
        names = [q.name for q in self.shown]
        if self.shown:
            self.options.highlighted = names.index(keep) if keep in names else 0

    def _line(self, queue: Queue) -> Text:
        count = self.counts.get(queue.name)
        number = f"{count}" if count is not None else "…"
        mine = "" if queue.built_in else " (yours)"
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{safe_text(queue.name)}{mine}", style="bold")
        line.append(f"  {number}", style="cyan")
        if queue.description:
            line.append(f"  {queue.description}", style="dim")
        return line

    def action_move(self, step: int) -> None:
        if not self.shown:
            return
        current = self.options.highlighted or 0
        self.options.highlighted = max(0, min(len(self.shown) - 1, current + step))

    def action_complete(self) -> None:
        self.command.action_cursor_right()  # at the end: takes the suggestion

    def action_close(self) -> None:
        self.dismiss(None)

    # ------------------------------------------------------------------ enter

    @on(Input.Submitted, "#queue-command")
    def _submitted(self, event: Input.Submitted) -> None:
        text = " ".join(event.value.split())
        verb, _, name = text.partition(" ")
        if verb.casefold() == "save" and name:
            self._save(name)
        elif verb.casefold() == "delete" and name:
            self._delete(name)
        else:
            self._open(text)

    def _open(self, text: str) -> None:
        exact = next((q for q in self.all if q.name.casefold() == text.casefold()), None)
        highlighted = self.options.highlighted
        if exact is None and highlighted is not None and self.shown:
            exact = self.shown[highlighted]
        chosen = exact
        if chosen is None:
            self._say(f"No queue matches “{safe_text(text)}”. Type save NAME to keep this view.")
            return
        self.dismiss(chosen)

    @work(thread=True, exclusive=True, group="queue-change", exit_on_error=False)
    def _save(self, name: str) -> None:
        try:
            saved = self.queues.save(name, self.current, self.actor)
        except InvalidInput as error:
            self.app.call_from_thread(self._say, "; ".join(error.errors.values()))
            return
        except Exception as error:
            self.app.call_from_thread(self._say, f"Not saved: {error}")
            return
        self.app.call_from_thread(self._saved, saved)

    def _saved(self, queue: Queue) -> None:
        self.app.notify(f"Saved the current view as the queue “{queue.name}”.", markup=False)
        self.dismiss(queue)

    @work(thread=True, exclusive=True, group="queue-change", exit_on_error=False)
    def _delete(self, name: str) -> None:
        queue = next((q for q in self.all if q.name.casefold() == name.casefold()), None)
        try:
            if queue is None or queue.id is None:
                raise InvalidInput({"queue": f"you have no saved queue named “{name}”"})
            self.queues.delete(queue.id, self.actor)
        except InvalidInput as error:
            self.app.call_from_thread(self._say, "; ".join(error.errors.values()))
            return
        self.app.call_from_thread(self._deleted, queue.name)

    def _deleted(self, name: str) -> None:
        with self.prevent(Input.Changed):
            self.command.value = ""
        self._say(f"Deleted the queue “{name}”.")
        self._load()

    def _say(self, text: str) -> None:
        self.query_one("#queue-message", Static).update(Text(text))
