"""The bulk actions the directory offers on marked customers, as BulkActions for
the shared dialog (screens/bulk_dialog.py): each is a preview and an apply over
the services, with the marked customers as one SQL selection of ids.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.app import App

from crm_tui.screens.bulk_dialog import BulkAction, Progress
from crm_tui.services.actor import Actor
from crm_tui.services.directory import DirectoryQuery, DirectoryService


@dataclass(frozen=True)
class _Edit:
    """What tells a tag from an assignment in the shared dialog."""

    title: str
    field_label: str
    placeholder: str
    button: str
    done: str  # "tagged": what the preview and the outcome say happened
    preview: str  # the BulkEditService method that previews...
    apply: str  # ...and the one that applies


_TAG = _Edit(
    "Tag the marked customers", "Tag", "e.g. vip, call back", "Add tag", "tagged",
    "tag_preview", "add_tag",
)  # fmt: skip
_ASSIGN = _Edit(
    "Assign the marked customers", "Agent", "login or name; - for nobody", "Assign", "assigned",
    "assign_preview", "assign",
)  # fmt: skip


def _edit_action(
    edit: _Edit,
    directory: DirectoryService,
    actor: Actor,
    every_match_of: DirectoryQuery | None,
    ids: set[int],
    describe: str,
) -> BulkAction:
    """A tag or an assignment: the service previews, then applies in one transaction."""
    from crm_tui.services.bulk_edit import BulkEditService, BulkStopped

    service = BulkEditService(directory.engine)
    preview, apply = getattr(service, edit.preview), getattr(service, edit.apply)

    def selection() -> Any:
        return directory.marked_ids(every_match_of, ids)

    def shown(value: str) -> list[str]:
        return list(preview(selection(), value).lines(edit.done))

    def run(value: str, _reason: str, should_stop: Callable[[], bool], progress: Progress) -> str:
        try:
            report = apply(
                selection(),
                value,
                actor,
                should_stop=should_stop,
                progress=progress,
                describe=describe,
            )
        except BulkStopped as stopped:
            return str(stopped)
        return str(report.summary(edit.done))

    return BulkAction(
        title=edit.title,
        field_label=edit.field_label,
        placeholder=edit.placeholder,
        button=edit.button,
        preview=shown,
        apply=run,
    )


def tag_action(
    directory: DirectoryService,
    actor: Actor,
    every_match_of: DirectoryQuery | None,
    ids: set[int],
    describe: str,
) -> BulkAction:
    """t: add one tag to every marked customer, all or nothing."""
    return _edit_action(_TAG, directory, actor, every_match_of, ids, describe)


def assign_action(
    directory: DirectoryService,
    actor: Actor,
    every_match_of: DirectoryQuery | None,
    ids: set[int],
    describe: str,
) -> BulkAction:
    """a: assign every marked customer to one agent (or to nobody), all or nothing."""
    return _edit_action(_ASSIGN, directory, actor, every_match_of, ids, describe)


def default_export_path(now: datetime | None = None) -> str:
    """~/customers-YYYYMMDD-HHMM.csv: the agent's own home, a name that sorts by time."""
    moment = now or datetime.now()
    return str(Path.home() / f"customers-{moment:%Y%m%d-%H%M}.csv")


def export_action(
    directory: DirectoryService,
    actor: Actor,
    every_match_of: DirectoryQuery | None,
    ids: set[int],
    describe: str,
) -> BulkAction:
    """e: write the marked customers to a CSV file (streamed, 0600, all or nothing).

    A file that exists is replaced only if the preview said so; one that appears
    after the preview is refused."""
    from crm_tui.services.customer_export import CustomerExport, ExportPreview
    from crm_tui.services.private_files import ExportError

    service = CustomerExport(directory.engine)
    previews: dict[str, ExportPreview] = {}

    def selection() -> Any:
        return directory.marked_ids(every_match_of, ids)

    def preview(path: str) -> list[str]:
        if not path:
            raise ValueError("type the file to write, e.g. ~/customers.csv")
        shown = service.preview(selection(), os.path.expanduser(path))
        if shown.problem:
            raise ValueError(" ".join(shown.lines()))
        previews[path] = shown
        return shown.lines()

    def apply(path: str, _reason: str, should_stop: Callable[[], bool], progress: Progress) -> str:
        shown = previews[path]
        try:
            report = service.write(
                selection(),
                shown.path,
                actor,
                should_stop=should_stop,
                progress=progress,
                replace=shown.exists,
                describe=describe,
            )
        except ExportError as error:
            return str(error)
        return report.summary()

    return BulkAction(
        title="Export the marked customers to CSV",
        field_label="File",
        placeholder="~/customers.csv",
        button="Export",
        preview=preview,
        apply=apply,
        initial=default_export_path(),
    )


def campaign_action(
    directory: DirectoryService,
    actor: Actor,
    app: App[Any],
    every_match_of: DirectoryQuery | None,
    ids: set[int],
    describe: str = "",
) -> BulkAction:
    """M: an email template to every marked customer, previewed first (who, how many,
    what the first ones get), then sent in resumable batches."""
    from crm_tui.services.campaigns import CampaignPreview, CampaignService
    from crm_tui.services.email_channel import EmailChannel, EmailNotConfigured
    from crm_tui.services.email_templates import TemplateProblem, TemplateService
    from crm_tui.services.secrets import Secrets

    templates = TemplateService()
    channel = EmailChannel(directory.engine, app.settings, Secrets())  # type: ignore[attr-defined]
    service = CampaignService(directory.engine, channel, templates)
    previews: dict[str, CampaignPreview] = {}

    def recipients() -> Any:
        return directory.marked_ids(every_match_of, ids)

    def preview(name: str) -> list[str]:
        try:
            channel.check_configured()
            # The same template previewed again keeps its campaign id: a resumed send.
            known = previews[name].campaign_id if name in previews else ""
            shown = service.preview(name, recipients(), known)
        except (TemplateProblem, EmailNotConfigured) as problem:
            raise ValueError(str(problem)) from None
        previews[name] = shown
        lines = shown.lines()
        for customer, email in shown.examples[:2]:
            lines.append(f"— {customer}: “{email.subject}”")
            lines.extend(f"  {line}" for line in email.body.splitlines()[:3] if line.strip())
        return lines

    def apply(name: str, _reason: str, should_stop: Callable[[], bool], progress: Progress) -> str:
        shown = previews[name]
        report = service.send(
            shown,
            recipients(),
            actor,
            should_stop=should_stop,
            progress=progress,
            describe=describe,
        )
        return report.summary()

    names = ", ".join(t.name for t in templates.templates())
    return BulkAction(
        title="Email campaign to the marked customers",
        field_label="Template",
        placeholder=names,
        button="Send emails",
        preview=preview,
        apply=apply,
    )


def merge_action(
    directory: DirectoryService, actor: Actor, ids: list[int], approvals: Any = None
) -> BulkAction:
    """=: merge the two marked customers. The agent types the id to keep; the preview
    says exactly what moves from the other, how overlaps are settled, and what
    blocks the merge; the merge is refused if either changed since the preview.

    With `approvals` (an ApprovalService: merges need a second person), applying
    asks for the merge instead; the manager who approves it makes it."""
    from crm_tui.models.support import MergePreview
    from crm_tui.services.merge import MergeService

    service = MergeService(directory.engine, require_approval=approvals is not None)
    first, second = sorted(ids)
    previews: dict[tuple[int, int], MergePreview] = {}

    def parties(value: str) -> tuple[int, int]:
        text = value.strip().lstrip("#")
        if not text.isdigit() or int(text) not in (first, second):
            raise ValueError(f"type the id to keep: {first} or {second}")
        keep = int(text)
        return keep, second if keep == first else first

    def preview(value: str) -> list[str]:
        keep, gone = parties(value)
        shown = service.preview(keep, gone, actor)
        if shown.blockers:
            raise ValueError("Cannot merge: " + "; ".join(shown.blockers))
        previews[(keep, gone)] = shown
        k, m = shown.keep, shown.merge
        moves = ", ".join(f"{move.moving} {move.label}" for move in shown.moves if move.moving)
        lines = [
            f"Keeps #{k.id} {k.name} <{k.email}>.",
            f"Merges #{m.id} {m.name} <{m.email}> into it; #{m.id} then finds #{k.id}.",
            f"Moves: {moves or 'nothing but the customer'}.",
        ]
        lines.extend(f"· {conflict.message}" for conflict in shown.conflicts)
        return lines

    def apply(value: str, reason: str, _stop: Callable[[], bool], _progress: Progress) -> str:
        keep, gone = parties(value)
        shown = previews[(keep, gone)]
        if approvals is not None:
            from crm_tui.models.enums import ApprovalKind

            versions = {str(key): version for key, version in shown.versions.items()}
            payload = {"keep_id": keep, "merge_id": gone, "versions": versions}
            asked = approvals.request(ApprovalKind.MERGE, keep, payload, reason, actor)
            return f"Merge asked for (request #{asked.id}): a manager must approve it."
        service.merge(keep, gone, reason, actor, shown.versions)
        return f"Merged #{gone} into #{keep}. Searching #{gone} now finds #{keep}."

    return BulkAction(
        title="Merge two duplicate customers",
        field_label="Keep #",
        placeholder=f"the id to keep: {first} or {second}",
        button="Merge",
        preview=preview,
        apply=apply,
        reason_label="Reason",
    )
