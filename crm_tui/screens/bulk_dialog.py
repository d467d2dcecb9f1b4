"""The dialog every bulk action shares: tag, assign, export, campaign (issue 5).

1. The agent types what to do (a tag, an agent, a file, a template); focus starts
   on the field, the action button stays off until a preview has been shown.
2. Enter asks for the dry run: how many customers, what will change,
   examples — computed by the service, nothing written.
3. Apply runs the action in a thread worker with a progress bar; Stop (or escape)
   asks the service to stop between chunks. Tagging and assigning run in one
   transaction, so a stop leaves nothing half-applied; a campaign stops between
   messages and resumes later. The outcome replaces the preview.

The dialog knows nothing of the services: the directory gives it two callables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, ProgressBar, Static

from crm_tui.services.customer_edit import InvalidInput

Progress = Callable[[int, int], None]  # done, total
Preview = Callable[[str], list[str]]  # what was typed → lines; raises InvalidInput/ValueError
# (what was typed, the reason, should_stop, progress) → the outcome, one line
Apply = Callable[[str, str, Callable[[], bool], Progress], str]


@dataclass(frozen=True)
class BulkAction:
    title: str  # "Tag the marked customers"
    field_label: str  # "Tag"
    placeholder: str
    button: str  # "Add tag"
    preview: Preview
    apply: Apply
    initial: str = ""
    reason_label: str = ""  # set: the action also asks for a reason (kept in activity)


class BulkDialog(ModalScreen[str | None]):
    DEFAULT_CSS = """
    BulkDialog { align: center middle; }
    #bulk-dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: tall $primary; background: $surface; padding: 0 1;
    }
    .field-row { height: auto; }
    .field-row .label { width: 11; padding-top: 1; }
    .field-row Input { width: 1fr; }
    #bulk-preview { height: auto; max-height: 10; }
    #bulk-message { color: $warning; height: auto; }
    #bulk-buttons { height: auto; align-horizontal: right; }
    #bulk-buttons Button { margin-left: 1; min-width: 12; }
    #bulk-progress { display: none; }
    #bulk-progress.running { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop_or_close", "Close", priority=True, id="bulk.close"),
    ]

    def __init__(self, action: BulkAction, marked: str) -> None:
        super().__init__()
        self.action = action
        self.marked = marked  # "1,204 marked"
        self.previewed: str | None = None  # the value the shown preview is for
        self.running = False
        self.stop = threading.Event()
        self.result: str | None = None  # the outcome, once applied

    def compose(self) -> ComposeResult:
        with Vertical(id="bulk-dialog"):
            yield Static(Text(self.action.title, style="bold"))
            yield Static(Text(f"{self.marked}. Nothing changes until you press apply."))
            with Horizontal(id="bulk-field", classes="field-row"):
                yield Static(Text(f"{self.action.field_label:<10}"), classes="label")
                yield Input(
                    self.action.initial,
                    placeholder=self.action.placeholder,
                    id="bulk-value",
                    select_on_focus=False,
                )
            if self.action.reason_label:
                with Horizontal(id="bulk-reason-row", classes="field-row"):
                    yield Static(Text(f"{self.action.reason_label:<10}"), classes="label")
                    yield Input(placeholder="why (at least 5 characters)", id="bulk-reason")
            yield Static(Text("enter: preview"), id="bulk-preview")
            yield ProgressBar(id="bulk-progress", show_eta=False)
            yield Static(id="bulk-message")
            with Horizontal(id="bulk-buttons"):
                yield Button("Cancel", id="bulk-cancel")
                yield Button(self.action.button, id="bulk-apply", variant="primary", disabled=True)

    @property
    def value(self) -> str:
        return self.query_one("#bulk-value", Input).value.strip()

    @property
    def reason(self) -> str:
        found = self.query("#bulk-reason")
        return found.first(Input).value.strip() if found else ""

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#bulk-value", Input))

    # ---------------------------------------------------------------- preview

    @on(Input.Changed, "#bulk-value")
    def _changed(self) -> None:
        # A preview holds for what it was computed for, and nothing else.
        self.previewed = None
        self.query_one("#bulk-apply", Button).disabled = True

    @on(Input.Submitted, "#bulk-reason")
    def _reason_submitted(self) -> None:
        self.set_focus(self.query_one("#bulk-apply", Button))

    @on(Input.Submitted, "#bulk-value")
    def _submitted(self) -> None:
        if self.previewed is not None and self.previewed == self.value:
            after = self.query("#bulk-reason") or self.query("#bulk-apply")
            self.set_focus(after.first())
            return
        self._say("Working out what would change…")
        self._preview(self.value)

    @work(thread=True, exclusive=True, group="bulk-preview", exit_on_error=False)
    def _preview(self, value: str) -> None:
        try:
            lines = self.action.preview(value)
        except InvalidInput as refusal:
            self.app.call_from_thread(self._say, "; ".join(refusal.errors.values()))
            return
        except Exception as error:
            self.app.call_from_thread(self._say, str(error) or type(error).__name__)
            return
        self.app.call_from_thread(self._show_preview, value, lines)

    def _show_preview(self, value: str, lines: list[str]) -> None:
        if value != self.value:
            return  # typed on since: that preview is stale
        self.previewed = value
        self.query_one("#bulk-preview", Static).update(Text("\n".join(lines)))
        self._say("enter again (or tab) reaches the button, enter there applies; escape cancels.")
        apply = self.query_one("#bulk-apply", Button)
        apply.disabled = False

    # ------------------------------------------------------------------ apply

    @on(Button.Pressed, "#bulk-apply")
    def _apply_pressed(self) -> None:
        if self.previewed is None or self.previewed != self.value or self.running:
            return
        self.running = True
        self.query_one("#bulk-apply", Button).disabled = True
        for field in self.query(Input):
            field.disabled = True
        self.query_one("#bulk-cancel", Button).label = "Stop"
        self.query_one("#bulk-progress", ProgressBar).add_class("running")
        self._say("Applying… escape or Stop stops it.")
        self._apply(self.value, self.reason)

    @work(thread=True, exclusive=True, group="bulk-apply", exit_on_error=False)
    def _apply(self, value: str, reason: str) -> None:
        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(self._progress, done, total)

        try:
            outcome = self.action.apply(value, reason, self.stop.is_set, progress)
        except InvalidInput as refusal:
            outcome = "Nothing was changed: " + "; ".join(refusal.errors.values())
        except Exception as error:  # e.g. the database connection was cut: rolled back
            outcome = f"Nothing was changed: {_one_line(error)}"
        self.app.call_from_thread(self._finished, outcome)

    def _progress(self, done: int, total: int) -> None:
        self.query_one("#bulk-progress", ProgressBar).update(total=max(total, 1), progress=done)

    def _finished(self, outcome: str) -> None:
        self.running = False
        self.query_one("#bulk-cancel", Button).label = "Close"
        self.query_one("#bulk-preview", Static).update(Text(outcome))
        self._say("")
        self.result = outcome
        self.set_focus(self.query_one("#bulk-cancel", Button))

    # ---------------------------------------------------------------- closing

    @on(Button.Pressed, "#bulk-cancel")
    def _cancel_pressed(self) -> None:
        self.action_stop_or_close()

    def action_stop_or_close(self) -> None:
        if self.running:
            self.stop.set()
            self._say("Stopping at the next safe point…")
            return
        self.dismiss(self.result)

    def _say(self, text: str) -> None:
        self.query_one("#bulk-message", Static).update(Text(text))


def _one_line(error: Exception) -> str:
    """An error as one line an agent can read: a driver's own message, not SQL."""
    original = getattr(error, "orig", None)  # SQLAlchemy wraps the driver's error
    text = str(original or error).strip().splitlines()
    return text[0] if text else type(error).__name__
