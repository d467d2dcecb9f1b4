"""The shape every edit dialog shares: labelled fields, a message beside each, ctrl+s.

A `FormScreen` saves in a thread worker through a service call. What can come
back is handled here once for all forms:
- `InvalidInput`: each message goes under its field, focus goes to the first one;
- `StaleEdit`: "changed by NAME at TIME — reload" in the banner; the form stays
  open with everything the agent typed, so nothing is lost;
- anything else: the error's first line in the banner.
Nothing is written in any of these cases (the services validate before writing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, TextArea

from crm_tui.services.customer_edit import InvalidInput, StaleEdit
from crm_tui.services.profile import CustomerNotFound
from crm_tui.text import safe_text

ResultT = TypeVar("ResultT")
SavedT = TypeVar("SavedT")


class FormField(Vertical):
    """A label and its control on one line, and under them the field's message (if any).

    One line per field keeps a business customer's dozen fields on an 80x24 screen."""

    DEFAULT_CSS = """
    FormField { height: auto; }
    FormField > Horizontal { height: auto; }
    FormField .field-label { width: 20; height: 1; color: $text-muted; padding: 0 1 0 0; }
    FormField .field-error { color: $error; height: auto; padding-left: 20; display: none; }
    FormField.-invalid .field-error { display: block; }
    FormField Input { border: none; height: 1; width: 1fr; padding: 0 1; background: $boost; }
    FormField Input:focus { border: none; background: $primary 30%; }
    FormField TextArea { border: none; height: 4; width: 1fr; background: $boost; }
    FormField TextArea:focus { border: none; background: $primary 30%; }
    FormField Select { width: 1fr; height: auto; }
    FormField Select > SelectCurrent { border: none; height: 1; padding: 0 1; background: $boost; }
    FormField Select:focus > SelectCurrent { border: none; background: $primary 30%; }
    FormField.-invalid .field-label { color: $error; }
    """

    def __init__(self, key: str, label: str, control: Widget, *, hint: str = "") -> None:
        super().__init__(id=f"field-{key}")
        self.key, self.label, self.control, self.hint = key, label, control, hint
        if hint:
            control.tooltip = hint

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(Text(self.label), classes="field-label")
            yield self.control
        yield Static("", classes="field-error")

    def set_error(self, message: str | None) -> None:
        error = self.query_one(".field-error", Static)
        error.update(Text(f"✗ {safe_text(message)}") if message else "")
        self.set_class(bool(message), "-invalid")


def field_value(control: Widget) -> str:
    """The text of an Input / TextArea / Select, as the services take it."""
    if isinstance(control, Input):
        return control.value
    if isinstance(control, TextArea):
        return control.text
    if isinstance(control, Select):
        value = control.value
        return "" if value is Select.NULL or value is None else str(value)
    raise TypeError(f"not a form control: {control!r}")


class FormFields(VerticalScroll):
    """The fields' scroll area. Not focusable itself: at 80x24 a long form overflows,
    and a focusable scroll would take a tab stop where typed keys go nowhere. Focus
    moving between fields scrolls them into view."""

    can_focus = False


class FormScreen(ModalScreen[ResultT], Generic[ResultT]):
    """A dialog of FormFields. Subclasses yield fields and implement `save`."""

    # Not priority bindings: a priority binding runs when the key is read, before the
    # keys typed just ahead of it have reached the field, and would save without them.
    # Tab is the opposite: it must move focus as it is read, so that the characters
    # typed after it (in the same burst) reach the next field, not this one.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="form.save"),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("tab", "next_field", "Next field", show=False, priority=True),
        Binding("shift+tab", "previous_field", "Previous field", show=False, priority=True),
    ]
    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen > #form-dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    FormScreen #form-title { text-style: bold; height: 1; }
    FormScreen #form-banner { color: $error; height: auto; }
    FormScreen #form-fields { height: auto; max-height: 80vh; }
    FormScreen #form-keys { color: $text-muted; height: 1; }
    """
    TITLE_TEXT = "Edit"
    SAVE_HINT = "ctrl+s save · escape cancel · tab next field"

    def __init__(self) -> None:
        super().__init__()
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(id="form-dialog"):
            yield Static(Text(self.TITLE_TEXT), id="form-title")
            yield Static("", id="form-banner")
            with FormFields(id="form-fields"):
                yield from self.fields()
            yield Static(Text(self.SAVE_HINT), id="form-keys")

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def save(self) -> None:
        """Read the controls and call `run_save`."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers

    def value(self, key: str) -> str:
        return field_value(self.query_one(f"#field-{key}", FormField).control)

    def show_banner(self, text: str) -> None:
        self.query_one("#form-banner", Static).update(Text(safe_text(text)) if text else "")

    def show_errors(self, errors: dict[str, str]) -> None:
        first: FormField | None = None
        for form_field in self.query(FormField):
            message = errors.get(form_field.key)
            form_field.set_error(message)
            if message and first is None and form_field.display:
                first = form_field
        known = {f.key for f in self.query(FormField) if f.display}
        unplaced = [f"{key}: {message}" for key, message in errors.items() if key not in known]
        count = len(errors)
        noun = "field needs" if count == 1 else "fields need"
        self.show_banner(" · ".join([f"Nothing was saved: {count} {noun} attention.", *unplaced]))
        if first is not None:
            self.set_focus(first.control)
            first.scroll_visible(animate=False)  # at once: no half-scrolled frame

    def clear_errors(self) -> None:
        for form_field in self.query(FormField):
            form_field.set_error(None)
        self.show_banner("")

    # ------------------------------------------------------------------ saving

    def action_save(self) -> None:
        # After the next refresh: by then every field has taken the keys sent to it.
        self.call_after_refresh(self._save_now)

    def _save_now(self) -> None:
        if not self.saving:
            self.save()

    def action_next_field(self) -> None:
        self.focus_next()

    def action_previous_field(self) -> None:
        self.focus_previous()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def run_save(self, call: Callable[[], SavedT], on_saved: Callable[[SavedT], object]) -> None:
        """Run `call` (a service write) in a thread; then `on_saved(result)` or the error."""
        self.saving = True
        self.show_banner("Saving…")
        self._save_worker(call, on_saved)

    @work(thread=True, exclusive=True, group="form-save", exit_on_error=False)
    def _save_worker(self, call: Callable[[], Any], on_saved: Callable[[Any], object]) -> None:
        try:
            result = call()
        except InvalidInput as refusal:
            self.app.call_from_thread(self._refused, refusal.errors)
            return
        except StaleEdit as stale:
            self.app.call_from_thread(
                self._failed, f"Not saved: {stale}. Your input is kept: copy what you need."
            )
            return
        except CustomerNotFound as missing:
            self.app.call_from_thread(self._failed, f"Not saved: {missing}.")
            return
        except Exception as error:  # the database refused, the connection dropped, …
            special = self.handle_error(error)
            if special is not None:
                self.app.call_from_thread(self._failed, special)
                return
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            self.app.call_from_thread(
                self._failed, f"Not saved: {reason[0] if reason else type(error).__name__}"
            )
            return
        self.app.call_from_thread(self._saved, on_saved, result)

    def handle_error(self, error: Exception) -> str | None:
        """A form's own message for an error its service raises (None: the generic one)."""
        return None

    def _refused(self, errors: dict[str, str]) -> None:
        self.saving = False
        self.show_errors(errors)

    def _failed(self, text: str) -> None:
        self.saving = False
        self.show_banner(text)

    def _saved(self, on_saved: Callable[[Any], object], result: Any) -> None:
        self.saving = False
        self.clear_errors()
        on_saved(result)


def text_input(value: str = "", *, placeholder: str = "", max_length: int = 0) -> Input:
    # No select-on-focus: the Focus event can arrive after keys typed ahead (tab, ctrl+u,
    # text), and selecting then would have the next key replace what was typed.
    return Input(value=value, placeholder=placeholder, max_length=max_length, select_on_focus=False)


def choice(
    options: list[tuple[str, str]], value: str | None, *, allow_blank: bool = False
) -> Select[str]:
    """A Select of (label, value) pairs; `value` chosen when it is one of them."""
    values = {v for _label, v in options}
    selected: Any = value if value in values else Select.NULL
    if selected is Select.NULL and not allow_blank and options:
        selected = options[0][1]
    return Select(options, value=selected, allow_blank=allow_blank)
