"""What the agent has marked in the directory, for a bulk action.

Either some customers by id (`space` on each), or every customer matching a
query (`ctrl+a`) except those unmarked since — never a list of a million ids in
memory: the query is the selection, and the services run it in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_tui.services.directory import DirectoryQuery, MatchCount


@dataclass
class Marks:
    all_of: DirectoryQuery | None = None  # every customer matching this query...
    ids: set[int] = field(default_factory=set)  # ...except these; or else exactly these

    def __bool__(self) -> bool:
        return self.all_of is not None or bool(self.ids)

    def is_marked(self, customer_id: int) -> bool:
        return (customer_id in self.ids) != (self.all_of is not None)

    def toggle(self, customer_id: int) -> None:
        self.ids.symmetric_difference_update({customer_id})

    def mark_all(self, query: DirectoryQuery) -> None:
        self.all_of, self.ids = query, set()

    def clear(self) -> None:
        self.all_of, self.ids = None, set()

    def follows(self, query: DirectoryQuery) -> bool:
        """Whether "all matching" still means the customers `query` shows (sort aside)."""
        return self.all_of is None or (
            self.all_of.search == query.search and self.all_of.filters == query.filters
        )

    def count(self, matches: MatchCount | None) -> str:
        """How many are marked, as the status line says it."""
        if self.all_of is None:
            return f"{len(self.ids):,}"
        if matches is None:
            return "all"
        if matches.capped:
            return f"all {matches}"
        return f"{max(0, matches.value - len(self.ids)):,}"

    def describe(self) -> str:
        """What was marked, for the audit entry: the query, never the names."""
        if self.all_of is None:
            return f"{len(self.ids)} marked by hand"
        parts = [f"search {self.all_of.search!r}"] if self.all_of.search else []
        parts.extend(self.all_of.filters.describe())
        scope = "; ".join(parts) or "all customers"
        return f"every match of {scope}" + (f", less {len(self.ids)}" if self.ids else "")
