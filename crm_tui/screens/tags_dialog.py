"""`t` on the profile: add a tag (type it, enter) or remove one (select it, delete).

Each add or removal is saved at once, with its own activity event; the dialog
stays open so several tags can be changed in a row. Dismisses with True when
anything changed (the profile then reloads).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import (
    TAG_MAX,
    CustomerEditService,
    InvalidInput,
    validate_tag,
)
from crm_tui.text import safe_text


class TagsDialog(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("delete,x", "remove", "Remove tag", show=False),
    ]
    DEFAULT_CSS = """
    TagsDialog { align: center middle; }
    TagsDialog > Vertical {
        width: 60; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    TagsDialog #tags-message { height: auto; }
    TagsDialog .error { color: $error; }
    TagsDialog OptionList { height: auto; max-height: 10; }
    TagsDialog #tags-keys { color: $text-muted; }
    """

    def __init__(
        self, service: CustomerEditService, actor: Actor, customer_id: int, tags: tuple[str, ...]
    ) -> None:
        super().__init__()
        self.service, self.actor, self.customer_id = service, actor, customer_id
        self.tags = list(tags)
        self.changed = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Tags", style="bold"))
            yield Input(placeholder="new tag, then enter", max_length=TAG_MAX, id="tag-input")
            yield Static("", id="tags-message")
            yield OptionList(id="tag-list")
            yield Static(
                Text("enter add · tab to the list, delete removes · escape close"), id="tags-keys"
            )

    def on_mount(self) -> None:
        self._fill()
        self.set_focus(self.query_one("#tag-input", Input))

    def _fill(self) -> None:
        options = self.query_one("#tag-list", OptionList)
        options.clear_options()
        options.add_options([Option(Text(safe_text(tag)), id=tag) for tag in sorted(self.tags)])
        if not self.tags:
            options.add_option(Option(Text("(no tags yet)"), disabled=True))
        elif options.highlighted is None:
            options.highlighted = 0

    def _message(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#tags-message", Static)
        message.update(Text(safe_text(text)))
        message.set_class(error, "error")

    @on(Input.Submitted, "#tag-input")
    def _add(self, event: Input.Submitted) -> None:
        self._write(event.value, add=True)

    def action_remove(self) -> None:
        options = self.query_one("#tag-list", OptionList)
        if self.focused is not options or not self.tags:
            return
        option = options.get_option_at_index(options.highlighted or 0)
        if option.id:
            self._write(option.id, add=False)

    @work(thread=True, exclusive=True, group="tags", exit_on_error=False)
    def _write(self, tag: str, *, add: bool) -> None:
        try:
            if add:
                done = self.service.add_tag(self.customer_id, tag, self.actor)
            else:
                done = self.service.remove_tag(self.customer_id, tag, self.actor)
        except InvalidInput as refusal:
            self.app.call_from_thread(
                self._message, f"Not saved: {refusal.errors.get('tag', refusal)}", error=True
            )
            return
        except Exception as error:
            self.app.call_from_thread(self._message, f"Not saved: {error}", error=True)
            return
        self.app.call_from_thread(self._written, tag, add, done)

    def _written(self, tag: str, add: bool, done: bool) -> None:
        name = validate_tag(tag)  # the name as stored (it was accepted a moment ago)
        if add:
            self.query_one("#tag-input", Input).value = ""
            if done:
                self.tags.append(name)
            self._message(f"Tagged {name}." if done else f"Already tagged {name}: nothing changed.")
        else:
            if done and name in self.tags:
                self.tags.remove(name)
            self._message(f"Removed {name}." if done else f"{name} was already gone.")
        self.changed = self.changed or done
        self._fill()

    def action_close(self) -> None:
        self.dismiss(self.changed)
