"""Read models of the support workflow: tickets, escalations, merging duplicates.

Plain frozen dataclasses built by services/tickets.py, escalations.py and merge.py;
screens and the command line read them. As in models/profile.py, `as_json` is the
one place a view becomes JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# ------------------------------------------------------------------------ tickets


@dataclass(frozen=True)
class TicketView:
    """A support ticket, as the profile's ticket history lists it."""

    id: int
    customer_id: int
    subject: str
    status: str  # TicketStatus
    opened_at: datetime
    closed_at: datetime | None
    opened_by: str  # the agent's name, or "system" / "customer (self-service)"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "subject": self.subject,
            "status": self.status,
            "opened_at": _iso(self.opened_at),
            "closed_at": _iso(self.closed_at),
            "opened_by": self.opened_by,
        }


# -------------------------------------------------------------------- escalations


@dataclass(frozen=True)
class EscalationView:
    """A customer flagged for manager review; `age` is how long it has been (or was) open."""

    id: int
    customer_id: int
    customer_name: str
    company_name: str
    reason: str
    status: str  # EscalationStatus
    raised_at: datetime
    raised_by: str
    age: timedelta  # open: until the time of reading; resolved: until its resolution
    resolved_at: datetime | None = None
    resolved_by: str = ""
    resolution: str = ""

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "customer_name": self.customer_name,
            "company": self.company_name,
            "reason": self.reason,
            "status": self.status,
            "raised_at": _iso(self.raised_at),
            "raised_by": self.raised_by,
            "age_seconds": int(self.age.total_seconds()),
            "resolved_at": _iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "resolution": self.resolution,
        }


# -------------------------------------------------------------------------- merge


@dataclass(frozen=True)
class MergeParty:
    """One of the two customers of a merge, as the preview names them."""

    id: int
    name: str
    email: str
    company_name: str
    version: int  # the merge is refused if the customer changes after the preview

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "company": self.company_name,
            "version": self.version,
        }


@dataclass(frozen=True)
class MergeMove:
    """The rows of one kind (one table) that the merged-away customer has.

    `moving` rows are given to the survivor; `dropped` ones are duplicates of rows
    the survivor already has (a tag on both, a segment on both, preferences on
    both) and are removed: the survivor's row stays, once."""

    table: str
    label: str  # "subscriptions", "tags", ...
    moving: int
    dropped: int = 0

    @property
    def total(self) -> int:
        return self.moving + self.dropped

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "label": self.label,
            "moving": self.moving,
            "dropped": self.dropped,
        }


@dataclass(frozen=True)
class MergeConflict:
    """Something both customers have, and what the merge does about it."""

    kind: str  # "address", "tags", "preferences", "consent", "escalations", "account state"
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class MergePreview:
    """Exactly what merging `merge` into `keep` would do, read in one snapshot.

    `blockers` are why the merge cannot be done now (it is refused while there is
    any); `conflicts` say how overlaps are settled. Pass `versions` to the merge:
    it is refused if either customer changed after this preview."""

    keep: MergeParty
    merge: MergeParty
    moves: tuple[MergeMove, ...]  # every kind the merged-away customer has rows of
    conflicts: tuple[MergeConflict, ...]
    blockers: tuple[str, ...]

    @property
    def can_merge(self) -> bool:
        return not self.blockers

    @property
    def versions(self) -> dict[int, int]:
        return {self.keep.id: self.keep.version, self.merge.id: self.merge.version}

    def count(self, table: str) -> int:
        """Rows of `table` that move (0 when none)."""
        return next((move.moving for move in self.moves if move.table == table), 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "keep": self.keep.as_json(),
            "merge": self.merge.as_json(),
            "moves": [move.as_json() for move in self.moves],
            "conflicts": [conflict.as_json() for conflict in self.conflicts],
            "blockers": list(self.blockers),
        }


@dataclass(frozen=True)
class MergeResult:
    survivor_id: int
    merged_id: int
    moves: tuple[MergeMove, ...]  # what moved (the same figures a fresh preview gave)
    conflicts: tuple[MergeConflict, ...]
    survivor_version: int  # the survivor's version after the merge

    def as_json(self) -> dict[str, Any]:
        return {
            "survivor_id": self.survivor_id,
            "merged_id": self.merged_id,
            "moves": [move.as_json() for move in self.moves],
            "conflicts": [conflict.as_json() for conflict in self.conflicts],
            "survivor_version": self.survivor_version,
        }
