"""The audit trail: append-only entries, each chained to the one before by its hash.

Every entry's `hash` is SHA-256 over the previous entry's hash and the entry's own
fields in a canonical JSON form (sorted keys, times in UTC ISO form). `seq` counts
1, 2, 3, … without gaps. The entry's content (details, before, after: what may
name a person) enters the chain as a salted digest, `content_digest`, kept beside
it; verifying recomputes the digest from the content, so the content is covered
all the same. So:

- an edited entry no longer matches its own hash;
- a deleted entry leaves a gap in `seq` and breaks the next entry's `prev_hash`;
- reordered entries (swapped contents, or swapped `seq` values) break the chain.

Erasure (right to be forgotten) meets an append-only trail through that digest:
`redact_customer` blanks the content and the salt of the erased customer's entries
and marks them `redacted`. Their chain still verifies (the digest stays), the
content can no longer be checked, nor guessed from the digest (the salt is gone),
and `verify` accepts a redacted entry only when its customer has been erased: a
redaction of anybody else is reported like an edit. Searches name no customer:
an erasure redacts those whose text matches the person (`redact_searches`) and
lists their seqs in its own `customer.erase` entry, and `verify` accepts exactly
those.

`verify` walks the trail in `seq` order, streaming, and names the first entry that
fails. What it cannot see on its own is the loss of the newest entries (the chain
simply ends earlier); `verify` reports the count and the head hash so that an
operator can compare them with a copy taken before.

Appending serialises writers: the next `seq` and `prev_hash` come from the last
entry, so two appends must not read the same last entry. On PostgreSQL a
transaction-scoped advisory lock orders them; on SQLite the append first takes
the database's write lock (a write that changes nothing), after which no other
connection can append until this transaction ends. Entries are written in the
caller's transaction: an action and its audit entry commit together or not at all.

The trail holds who, when, what and which customer, never secrets: callers pass
identifiers, counts and names, not tokens, keys or card data.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.services.actor import Actor
from crm_tui.services.database import as_utc

_audit = tables.SQLModel.metadata.tables["audit_entry"]
_customer = tables.SQLModel.metadata.tables["customer"]

GENESIS_HASH = "0" * 64  # the prev_hash of entry 1
SEARCH_ACTION = "directory.search"
ERASE_ACTION = "customer.erase"
_WORD = re.compile(r"\w+")
_ADVISORY_KEY = 0x6372_6D61_7564  # "crmaud": PostgreSQL's lock id for appends


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    agent_username: str
    action: str
    customer_id: int | None
    details: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str
    redacted: bool = False  # its content was removed by the customer's erasure

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": _canonical_time(self.at),
            "agent": self.agent_username,
            "action": self.action,
            "customer_id": self.customer_id,
            "details": self.details,
            "before": self.before,
            "after": self.after,
            "redacted": self.redacted,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    head_hash: str
    bad_seq: int | None = None  # the first entry that fails, by its seq
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_seq is None and not self.problem

    def summary(self) -> str:
        if self.ok:
            return f"Audit trail intact: {self.checked} entries, head {self.head_hash[:16]}…"
        return f"Audit trail BROKEN at entry {self.bad_seq}: {self.problem}"


def _canonical_time(moment: datetime) -> str:
    return as_utc(moment).astimezone(UTC).isoformat(timespec="microseconds")


def content_digest(
    salt: str,
    details: Mapping[str, Any] | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> str:
    body = {"details": details or {}, "before": before, "after": after}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((salt + "\n" + text).encode("utf-8")).hexdigest()


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    agent_username: str,
    action: str,
    customer_id: int | None,
    digest: str,
) -> str:
    body = {
        "seq": seq,
        "at": _canonical_time(at),
        "agent": agent_username,
        "action": action,
        "customer_id": customer_id,
        "content": digest,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + text).encode("utf-8")).hexdigest()


def _jsonable(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the JSON column will give back, so the hash is of what is stored."""
    if value is None:
        return None
    return json.loads(json.dumps(dict(value), default=str))


def _take_append_lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
    else:
        # A write that changes nothing still takes SQLite's write lock for the
        # rest of the transaction: no other connection appends until we commit.
        connection.execute(sa.update(_audit).where(sa.false()).values(action=_audit.c.action))


def append(
    connection: Connection,
    actor: Actor,
    action: str,
    *,
    customer_id: int | None = None,
    details: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one entry in the caller's transaction and return it."""
    _take_append_lock(connection)
    last = connection.execute(
        sa.select(_audit.c.seq, _audit.c.hash).order_by(_audit.c.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
    moment = as_utc(at or datetime.now(UTC))
    stored_details = _jsonable(details) or {}
    stored_before, stored_after = _jsonable(before), _jsonable(after)
    username = actor.username or actor.type.value
    salt = secrets.token_hex(16)
    content = content_digest(salt, stored_details, stored_before, stored_after)
    digest = entry_hash(prev_hash, seq, moment, username, action, customer_id, content)
    connection.execute(
        sa.insert(_audit).values(
            seq=seq,
            at=moment,
            agent_username=username,
            action=action,
            customer_id=customer_id,
            details=stored_details,
            before=stored_before,
            after=stored_after,
            content_salt=salt,
            content_digest=content,
            redacted=False,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    return AuditRecord(
        seq,
        moment,
        username,
        action,
        customer_id,
        stored_details,
        stored_before,
        stored_after,
        prev_hash,
        digest,
    )


def record_change(
    connection: Connection,
    actor: Actor,
    customer_id: int,
    kind: str,
    summary: str,
    details: Mapping[str, Any],
    at: datetime | None = None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    action: str | None = None,
) -> AuditRecord:
    """The audit entry of a change that also leaves an activity event on one
    customer: `customer.<kind>` (or `action`), with the event's summary and details,
    and the changed fields' values before and after where the caller has them."""
    return append(
        connection,
        actor,
        action or f"customer.{kind}",
        customer_id=customer_id,
        details={"summary": summary, **details},
        before=before,
        after=after,
        at=at,
    )


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        row.seq,
        as_utc(row.at),
        row.agent_username,
        row.action,
        row.customer_id,
        dict(row.details or {}),
        row.before,
        row.after,
        row.prev_hash,
        row.hash,
        bool(row.redacted),
    )


def _erased_customers(connection: Connection) -> set[int]:
    """The customers whose redacted entries are legitimate (erasures are few)."""
    rows = connection.execute(sa.select(_customer.c.id).where(_customer.c.erased_at.is_not(None)))
    return {int(customer_id) for customer_id in rows.scalars()}


class AuditLog:
    """Reading and verifying the trail; `record` appends in a transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, actor: Actor, action: str, **fields: Any) -> AuditRecord:
        with self.engine.begin() as connection:
            return append(connection, actor, action, **fields)

    def entries(
        self,
        *,
        customer_id: int | None = None,
        agent: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Newest first, filtered by customer, agent and/or action."""
        select = sa.select(_audit).order_by(_audit.c.seq.desc())
        if customer_id is not None:
            select = select.where(_audit.c.customer_id == customer_id)
        if agent is not None:
            select = select.where(_audit.c.agent_username == agent)
        if action is not None:
            select = select.where(_audit.c.action == action)
        if limit is not None:
            select = select.limit(limit)
        with self.engine.connect() as connection:
            return [_record(row) for row in connection.execute(select)]

    def _in_order(self, connection: Connection) -> Iterator[Any]:
        result = connection.execution_options(yield_per=2_000).execute(
            sa.select(_audit).order_by(_audit.c.seq)
        )
        yield from result

    def verify(self) -> VerifyReport:
        """Walk the chain from entry 1; stop at the first entry that does not hold."""
        expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
        with self.engine.connect() as connection:
            erased = _erased_customers(connection)
            searches = _erasure_redactions(connection)
            for row in self._in_order(connection):
                problem = _problem(row, expected_seq, prev_hash, erased, searches)
                if problem:
                    return VerifyReport(checked, prev_hash, bad_seq=row.seq, problem=problem)
                expected_seq, prev_hash, checked = row.seq + 1, row.hash, checked + 1
        return VerifyReport(checked, prev_hash)


def redact_customer(connection: Connection, customer_id: int) -> int:
    """Blank the content of every entry about `customer_id` (their erasure), in the
    caller's transaction; the chain still verifies. Returns the entries redacted."""
    result = connection.execute(
        sa.update(_audit)
        .where(_audit.c.customer_id == customer_id, _audit.c.redacted.is_(False))
        .values(details={"redacted": True}, before=None, after=None, content_salt="", redacted=True)
    )
    return int(result.rowcount or 0)


def redact_searches(connection: Connection, identifiers: Iterable[str]) -> list[int]:
    """Blank the searches that may have looked for an erased person; their seqs.

    A search entry names no customer, only the text typed, so it is matched by
    text: a search word of three or more characters found in one of the person's
    identifiers (the words of their name and company, their email's local part,
    their phone's digits), accents and case aside. Over-matching is the safe side:
    a redacted search still shows who searched and when. The caller lists the seqs
    in its `customer.erase` entry, which is what lets `verify` accept them."""
    words = _identifier_words(identifiers)
    if not words:
        return []
    rows = connection.execute(
        sa.select(_audit.c.seq, _audit.c.details).where(
            _audit.c.action == SEARCH_ACTION, _audit.c.redacted.is_(False)
        )
    )
    matched = [
        row.seq for row in rows if _mentions(str((row.details or {}).get("search", "")), words)
    ]
    for chunk in range(0, len(matched), 500):
        connection.execute(
            sa.update(_audit)
            .where(_audit.c.seq.in_(matched[chunk : chunk + 500]))
            .values(
                details={"redacted": True}, before=None, after=None, content_salt="", redacted=True
            )
        )
    return matched


def _searched(details: Mapping[str, Any] | None) -> str:
    return str((details or {}).get("search", ""))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _identifier_words(identifiers: Iterable[str]) -> list[str]:
    words: list[str] = []
    for identifier in identifiers:
        folded = _fold(identifier)
        if "@" in folded:
            folded = folded.split("@", 1)[0]
        digits = "".join(ch for ch in folded if ch.isdigit())
        if len(digits) >= 6 and len(digits) >= len(folded.replace(" ", "")) // 2:
            words.append(digits)  # a phone number: match its digits
            continue
        words.extend(word for word in _WORD.findall(folded) if len(word) >= 2)
    return words


def _mentions(search: str, words: list[str]) -> bool:
    folded = _fold(search)
    terms = [term for term in _WORD.findall(folded) if len(term) >= 3]
    digits = "".join(ch for ch in folded if ch.isdigit())
    if len(digits) >= 4:
        terms.append(digits)
    return any(term in word for term in terms for word in words)


def _erasure_redactions(connection: Connection) -> set[int]:
    """Seqs of searches that an erasure's own (chained) entry says it redacted."""
    rows = connection.execute(sa.select(_audit.c.details).where(_audit.c.action == ERASE_ACTION))
    return {int(seq) for row in rows for seq in (row.details or {}).get("redacted_searches", [])}


def _problem(
    row: Any, expected_seq: int, prev_hash: str, erased: set[int], searches: set[int]
) -> str:
    if row.seq != expected_seq:
        missing = "missing" if row.seq > expected_seq else "out of order"
        return f"expected entry {expected_seq} next, found {row.seq} ({missing})"
    if row.prev_hash != prev_hash:
        return "it does not follow the entry before it (deleted, inserted or reordered)"
    recomputed = entry_hash(
        row.prev_hash,
        row.seq,
        row.at,
        row.agent_username,
        row.action,
        row.customer_id,
        row.content_digest,
    )
    if recomputed != row.hash:
        return "its content was changed after it was written"
    if row.redacted:
        if row.customer_id is None and row.seq in searches:
            return ""
        if row.customer_id not in erased:
            return "its content was removed, but its customer was never erased"
        return ""
    content = content_digest(row.content_salt, row.details, row.before, row.after)
    if content != row.content_digest:
        return "its content was changed after it was written"
    return ""
