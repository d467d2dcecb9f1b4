"""The command palette's customer commands: "jump to customer" and the directory's verbs.

Typing in the palette searches the directory (in a thread, through the same
service as the search box); choosing a hit opens that customer's Overview.
Customer values are shown as Content built from plain text, never markup.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from crm_tui.services.directory import SORT_COLUMNS, DirectoryQuery, DirectoryService
from crm_tui.text import safe_text

if TYPE_CHECKING:
    from crm_tui.models.read import DirectoryRow

JUMP_LIMIT = 8


def customer_label(row: DirectoryRow) -> str:
    company = f" · {safe_text(row.company_name)}" if row.company_name else ""
    return f"Jump to customer: {safe_text(row.name)}{company} <{safe_text(row.email)}> #{row.id}"


class CustomerCommands(Provider):
    def _directory_commands(self) -> list[tuple[str, Any, str]]:
        screen = getattr(self.app, "directory", None)
        if screen is None:
            return []
        commands: list[tuple[str, Any, str]] = [
            ("Filters", screen.action_filters, "filter the directory (f)"),
            ("Clear search and filters", self._clear, "show every customer"),
            ("Reverse the sort order", screen.action_sort_reverse, "S"),
            ("Approvals queue", screen.action_approvals, "requests waiting for a manager (A)"),
            ("Analytics", screen.action_analytics, "the figures of the customers shown (I)"),
        ]
        for column in SORT_COLUMNS:
            commands.append(
                (f"Sort by {column}", partial(screen.set_sort, column, False), "s cycles columns")
            )
        return commands

    def _clear(self) -> None:
        screen = self.app.directory  # type: ignore[attr-defined]
        screen.search_input.value = ""
        screen.set_filters(type(screen.directory_query.filters)())

    async def discover(self) -> Hits:
        yield DiscoveryHit(
            Content("Jump to customer…"),
            self.app.action_command_palette,
            help="type a name, email, #id, company, phone or subscription id",
        )
        for name, callback, help_text in self._directory_commands():
            yield DiscoveryHit(Content(name), callback, help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._directory_commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=escape(help_text))
        async for hit in self._customer_hits(query):
            yield hit

    async def _customer_hits(self, query: str) -> Hits:
        workspace = getattr(self.app, "workspace", None)
        if workspace is None or not query.strip():
            return
        service: DirectoryService = workspace.directory
        actor = self.app.actor  # type: ignore[attr-defined]
        try:
            rows = await asyncio.to_thread(
                lambda: list(service.iter_rows(DirectoryQuery(search=query), actor, JUMP_LIMIT))
            )
        except Exception:
            return
        for rank, row in enumerate(rows):
            yield Hit(
                1.0 - rank / 100,
                Content(customer_label(row)),
                partial(self.app.open_customer, row.id),  # type: ignore[attr-defined]
                text=customer_label(row),
                help=escape(f"{row.status} · {safe_text(row.plan) or 'no plan'}"),
            )
