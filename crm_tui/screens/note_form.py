"""`n` on the profile: add a note (type, summary, text, follow-up date)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TextArea

from crm_tui.models.enums import NoteType
from crm_tui.screens.form import FormField, FormScreen, choice, text_input
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import CustomerEditService, NoteInput, parse_day
from crm_tui.services.validation import NAME_MAX

NOTE_TYPES = [(kind.value.capitalize(), kind.value) for kind in NoteType]


class NoteForm(FormScreen[int]):
    """Dismisses with the new note's id, or None."""

    TITLE_TEXT = "Add a note"

    def __init__(self, service: CustomerEditService, actor: Actor, customer_id: int) -> None:
        super().__init__()
        self.service, self.actor, self.customer_id = service, actor, customer_id

    def fields(self) -> ComposeResult:
        yield FormField("type", "Type", choice(NOTE_TYPES, NoteType.PHONE.value))
        yield FormField("summary", "Summary", text_input(max_length=NAME_MAX))
        yield FormField("body", "Note", TextArea(id="note-body"))
        yield FormField(
            "follow_up_on",
            "Follow up on",
            text_input(placeholder="YYYY-MM-DD (optional)", max_length=10),
            hint="optional",
        )

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#field-summary", FormField).control)

    def save(self) -> None:
        kind, summary, body = self.value("type"), self.value("summary"), self.value("body")
        follow_up = self.value("follow_up_on")

        def add() -> int:
            note = NoteInput(kind, summary, body, parse_day(follow_up))
            return self.service.add_note(self.customer_id, note, self.actor)

        self.run_save(add, self.dismiss)
