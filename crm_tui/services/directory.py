"""The customer directory: search, filter, sort and page through up to millions of customers.

The directory never loads a result set. It answers *windows*: up to `limit` rows
after (or before) a known row, in the order of an indexed sort key, with `id` as
the tie-breaker (keyset paging). A window costs the same on page 1 and page 50,000.

Search answers substrings of name, email, company, company email, phone (as typed
or as digits), subscription and external provider ids, and the customer id:
- 3+ characters: the trigram index (SQLite FTS5, PostgreSQL pg_trgm);
- 1–2 characters: prefix match on name, email and company (trigrams need three);
- digits alone, or `#123`: also the customer with that id (or merged into it).

Only SQLAlchemy Core is used here, on lightweight `table()` clauses: importing
SQLModel costs most of a second, and this is the path to the app's first frame.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.formatting import format_major, minor_exponent
from crm_tui.models.read import DirectoryRow
from crm_tui.services.actor import Actor
from crm_tui.services.database import as_utc

COUNT_CAP = 10_000
# A trigram term matching more rows than this is "broad": see `_sqlite_matcher`.
# Measured at 1M customers: joining and sorting the matches costs ~2.4 µs each
# (25,000 → 60 ms, predictable); walking the sort index costs by how densely the
# matches lie in sort order (5 ms for 84,000 matches, a second for some 16,000).
BROAD_MATCH_THRESHOLD = 25_000

SORT_COLUMNS = ("name", "email", "status", "plan", "mrr", "since", "storefront", "ltv")

_c = sa.table(
    "customer",
    *(
        sa.column(name)
        for name in (
            "id",
            "kind",
            "name",
            "email",
            "phone",
            "company_name",
            "storefront",
            "region",
            "billing_group",
            "account_state",
            "lifecycle_status",
            "current_plan",
            "has_active_subscription",
            "currency",
            "mrr_minor",
            "ltv_minor",
        )
    ),
    sa.column("registered_at", sa.DateTime(timezone=True)),
)
_fts = sa.table("customer_fts", sa.column("rowid"), sa.column("doc"))
_pg_search = sa.table("customer_search", sa.column("customer_id"), sa.column("doc"))
_merged = sa.table("merged_customer", sa.column("old_customer_id"), sa.column("survivor_id"))
_plan = sa.table("plan", sa.column("name"), sa.column("active"))

_ROW_COLUMNS = (
    _c.c.id,
    _c.c.name,
    _c.c.email,
    _c.c.lifecycle_status,
    _c.c.current_plan,
    _c.c.mrr_minor,
    _c.c.currency,
    _c.c.registered_at,
    _c.c.storefront,
    _c.c.ltv_minor,
    _c.c.kind,
    _c.c.company_name,
    _c.c.account_state,
)


# ----------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class DirectoryFilters:
    statuses: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    storefronts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    billing_groups: tuple[str, ...] = ()
    kind: str | None = None
    registered_from: date | None = None
    registered_to: date | None = None  # inclusive
    has_active_subscription: bool | None = None
    ltv_min_minor: int | None = None  # in each customer's own currency
    ltv_max_minor: int | None = None
    # Named sets of customers (services/membership.py): segments, failed payments,
    # escalations... A customer must be in every one.
    sets: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self != DirectoryFilters()

    def describe(self) -> list[str]:
        """Short human labels of the filters in force, for the status line."""
        labels: list[str] = []
        for name, values in (
            ("status", self.statuses),
            ("plan", self.plans),
            ("storefront", self.storefronts),
            ("region", self.regions),
            ("group", self.billing_groups),
        ):
            if values:
                labels.append(f"{name}: {', '.join(values)}")
        if self.kind:
            labels.append(f"type: {self.kind}")
        if self.registered_from or self.registered_to:
            labels.append(f"since: {self.registered_from or '…'}–{self.registered_to or '…'}")
        if self.has_active_subscription is not None:
            labels.append("active sub" if self.has_active_subscription else "no active sub")
        if self.ltv_min_minor is not None or self.ltv_max_minor is not None:
            low = format_major(self.ltv_min_minor) if self.ltv_min_minor is not None else "…"
            high = format_major(self.ltv_max_minor) if self.ltv_max_minor is not None else "…"
            labels.append(f"LTV: {low}–{high}")
        if self.sets:
            from crm_tui.services import membership  # loads the tables: off cold start

            labels.extend(membership.label(name) for name in self.sets)
        return labels


@dataclass(frozen=True)
class Sort:
    column: str = "name"
    descending: bool = False

    def __post_init__(self) -> None:
        if self.column not in SORT_COLUMNS:
            raise ValueError(
                f"cannot sort by {self.column!r}: use one of {', '.join(SORT_COLUMNS)}"
            )


@dataclass(frozen=True)
class DirectoryQuery:
    search: str = ""
    filters: DirectoryFilters = field(default_factory=DirectoryFilters)
    sort: Sort = field(default_factory=Sort)

    def with_search(self, search: str) -> DirectoryQuery:
        return replace(self, search=search)

    def describe(self) -> str:
        """Whom it selects, for a title: 'search “ada” · status: active', 'all customers'."""
        search = self.search.strip()
        parts = [f"search “{search}”"] if search else []
        return " · ".join(parts + self.filters.describe()) or "all customers"


@dataclass(frozen=True)
class MatchCount:
    value: int
    capped: bool  # True: at least `value` customers match

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


@dataclass(frozen=True)
class Facets:
    """The values the directory's filters offer."""

    statuses: tuple[str, ...]
    plans: tuple[str, ...]
    storefronts: tuple[str, ...]
    regions: tuple[str, ...]
    billing_groups: tuple[str, ...]


# The keyset position of a row: its sort value and its id.
RowKey = tuple[Any, int]
# Asked now and then while a query runs: True stops it (see DirectoryService._connect).
StopCheck = Callable[[], bool]
# SQLite virtual-machine steps between two calls of a StopCheck (about a millisecond).
_PROGRESS_STEPS = 20_000


class QueryStopped(Exception):
    """A query was stopped because its answer was no longer wanted."""


MAX_AMOUNT_MINOR = 10**15 - 1  # ten trillion dollars less a cent: beyond any real amount


def parse_amount_minor(text: str, currency: str = "USD") -> int:
    """'1,234.50' → 123450 (USD); '1,500' → 1500 (JPY, which has no minor unit).
    Refuses negatives, more decimals than the currency has, and non-numbers."""
    cleaned = text.strip()
    if cleaned.startswith("-"):
        raise ValueError(f"{text!r}: the amount must be zero or more")
    if not re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d*)?|\d+(\.\d*)?|\.\d+", cleaned):
        raise ValueError(f"{text!r} is not an amount: write it like 1234.50")
    whole, _, fraction = cleaned.replace(",", "").partition(".")
    decimals = minor_exponent(currency)
    if len(fraction.rstrip("0")) > decimals:
        if decimals == 0:
            raise ValueError(f"{text!r}: {currency.upper()} has no decimals")
        raise ValueError(f"{text!r}: at most two decimals")  # every other currency has 2
    digits = whole.lstrip("0")
    minor = int(digits[:20] or "0") * 10**decimals + int(
        fraction[:decimals].ljust(decimals, "0") or "0"
    )
    if len(digits) > 20 or minor > MAX_AMOUNT_MINOR:
        raise ValueError(f"{text!r}: the amount is too large")
    return minor


def filters_from_options(options: Mapping[str, Any]) -> DirectoryFilters:
    """Filters from the command line's options (see cli._add_filter_options)."""

    def values(key: str) -> tuple[str, ...]:
        return tuple(options.get(key) or ())

    active = options.get("active_subscription")
    ltv_min, ltv_max = options.get("ltv_min"), options.get("ltv_max")
    return DirectoryFilters(
        statuses=values("status"),
        plans=values("plan"),
        storefronts=values("storefront"),
        regions=values("region"),
        billing_groups=values("billing_group"),
        kind=options.get("kind"),
        registered_from=options.get("registered_from"),
        registered_to=options.get("registered_to"),
        has_active_subscription=None if active is None else active == "yes",
        ltv_min_minor=parse_amount_minor(ltv_min) if ltv_min else None,
        ltv_max_minor=parse_amount_minor(ltv_max) if ltv_max else None,
    )


# --------------------------------------------------------------------- search terms


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class SearchTerms:
    """A search string taken apart. Everything the agent types is text, never syntax."""

    text: str  # the whole string, trimmed, case-folded
    words: tuple[str, ...]
    customer_id: int | None  # "123" or "#123"

    @classmethod
    def parse(cls, raw: str) -> SearchTerms:
        # Control characters (a pasted NUL, escape sequences) are never in a stored
        # name and PostgreSQL refuses NUL outright: they separate words like spaces.
        visible = _CONTROL.sub(" ", raw)
        text = " ".join(visible.split()).casefold()
        match = re.fullmatch(r"#?(\d{1,18})", text)
        return cls(text, tuple(text.split()), int(match.group(1)) if match else None)

    @property
    def uses_trigrams(self) -> bool:
        return len(self.text) >= 3

    def trigram_words(self) -> tuple[str, ...]:
        """Words of 3+ characters; when there are none, the whole text as one phrase."""
        long_words = tuple(w for w in self.words if len(w) >= 3)
        return long_words or (self.text,)

    def short_words(self) -> tuple[str, ...]:
        return tuple(w for w in self.words if len(w) < 3) if len(self.words) > 1 else ()

    def digits(self) -> str:
        """The digits of a phone-like query ("+1 (555) 010-1"), else ''."""
        if re.fullmatch(r"[\d\s+().-]+", self.text):
            digits = re.sub(r"\D", "", self.text)
            if len(digits) >= 3 and digits != self.text:
                return digits
        return ""


def fts_phrase(word: str) -> str:
    """An FTS5 string literal: the word is matched as text, whatever it contains."""
    return '"' + word.replace('"', '""') + '"'


def like_contains(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _next_prefix(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# -------------------------------------------------------------------------- service


class DirectoryService:
    """Read-only queries of the directory. Thread-safe: each call uses its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    # ----------------------------------------------------------------- public calls

    def window(
        self,
        query: DirectoryQuery,
        actor: Actor,
        *,
        after: RowKey | None = None,
        before: RowKey | None = None,
        from_end: bool = False,
        limit: int = 100,
        should_stop: StopCheck | None = None,
    ) -> list[DirectoryRow]:
        """Up to `limit` rows in sort order: the first ones, those after/before a key,
        or (from_end) the last ones. Rows always come back in display order."""
        backwards = before is not None or from_end
        with self._connect(should_stop) as connection:
            terms = SearchTerms.parse(query.search)
            matcher = self._matcher(connection, terms)
            sort_expr = self._sort_expression(query.sort.column)
            columns = [*_ROW_COLUMNS, sort_expr.label("sort_value")]
            statement = self._select(query, matcher, columns)
            descending = query.sort.descending != backwards
            key = before if before is not None else after
            if key is not None:
                row_value = sa.tuple_(sort_expr, _c.c.id)
                bound = sa.tuple_(sa.literal(key[0]), sa.literal(key[1]))
                statement = statement.where(row_value < bound if descending else row_value > bound)
            order = (sort_expr.desc(), _c.c.id.desc()) if descending else (sort_expr, _c.c.id)
            statement = statement.order_by(*order).limit(limit)
            rows = [self._row(r) for r in connection.execute(statement)]
        return rows[::-1] if backwards else rows

    def count(
        self,
        query: DirectoryQuery,
        actor: Actor,
        cap: int = COUNT_CAP,
        should_stop: StopCheck | None = None,
    ) -> MatchCount:
        """How many customers match, counted up to `cap` (then "cap+")."""
        with self._connect(should_stop) as connection:
            terms = SearchTerms.parse(query.search)
            if not terms.text and not query.filters.active:
                total = connection.execute(sa.select(sa.func.count()).select_from(_c)).scalar_one()
                return MatchCount(int(total), capped=False)
            inner = self._count_select(connection, query, terms, cap + 1)
            found = connection.execute(
                sa.select(sa.func.count()).select_from(inner.subquery())
            ).scalar_one()
        return MatchCount(min(int(found), cap), capped=found > cap)

    def record_search(self, query: DirectoryQuery, actor: Actor, matches: MatchCount) -> None:
        """`directory.search` in the audit trail: what was searched for (text and
        filters) and how many matched. The screen calls it once a search has
        settled, not at every keystroke."""
        from crm_tui.services import audit  # loads the tables: off cold start

        searched = _CONTROL.sub(" ", query.search)  # as it was searched (see SearchTerms)
        details = {"search": searched, "filters": query.filters.describe()}
        with self.engine.begin() as connection:
            audit.append(
                connection, actor, audit.SEARCH_ACTION, details=details | {"matches": str(matches)}
            )

    def marked_ids(self, every_match_of: DirectoryQuery | None, ids: set[int]) -> sa.Select[Any]:
        """The ids of what an agent marked, as one SELECT a bulk action runs on in SQL
        (never a million ids in memory): every match of a query except `ids`, or else
        exactly `ids`."""
        if every_match_of is None:
            return sa.select(_c.c.id).where(_c.c.id.in_(sorted(ids)))
        terms = SearchTerms.parse(every_match_of.search)
        if not terms.text and not every_match_of.filters.active:
            matches = sa.select(_c.c.id)
        else:
            with self.engine.connect() as connection:  # the search strategy reads stats
                matches = self._count_select(connection, every_match_of, terms, None)
        if not ids:
            return matches
        inner = matches.subquery()
        return sa.select(inner.c.id).where(inner.c.id.not_in(sorted(ids)))

    def _count_select(
        self,
        connection: sa.Connection,
        query: DirectoryQuery,
        terms: SearchTerms,
        limit: int | None,
    ) -> sa.Select[Any]:
        """The ids of up to `limit` matches, in whatever order is cheapest.

        A window walks the customers in sort order, which suits a broad term (the
        first rows match) but not a count (every row is visited). A count always
        starts from the search index: a million-row trigram match counts in
        milliseconds, the same walk through the sort index takes seconds."""
        if not (terms.uses_trigrams and self.dialect == "sqlite"):
            matcher = self._matcher(connection, terms)
            return self._select(query, matcher, [_c.c.id]).limit(limit)
        matcher = _Matcher(_fts.join(_c, _c.c.id == _fts.c.rowid), self._fts_clauses(terms))
        from_index = self._select(query, matcher, [_c.c.id]).limit(limit)
        if terms.customer_id is None:
            return from_index
        by_id = self._select(query, _Matcher(_c, [self._or_id(terms, sa.false())]), [_c.c.id])
        # SQLite takes no LIMIT inside a compound SELECT: wrap it in a subquery.
        limited = sa.select(from_index.subquery().c.id)
        return sa.select(sa.union(limited, by_id).subquery().c.id)

    def iter_rows(self, query: DirectoryQuery, actor: Actor, limit: int) -> Iterator[DirectoryRow]:
        """The first `limit` matches in sort order, fetched a window at a time."""
        after: RowKey | None = None
        remaining = limit
        while remaining > 0:
            rows = self.window(query, actor, after=after, limit=min(remaining, 500))
            yield from rows
            if len(rows) < min(remaining, 500):
                return
            remaining -= len(rows)
            after = rows[-1].sort_key

    def row(self, customer_id: int, actor: Actor) -> DirectoryRow | None:
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(*_ROW_COLUMNS, _c.c.id.label("sort_value")).where(_c.c.id == customer_id)
            ).first()
        return self._row(found) if found else None

    def facets(self, actor: Actor) -> Facets:
        """The distinct values each filter offers (read through indexes)."""

        def distinct(column: sa.ColumnClause[Any]) -> tuple[str, ...]:
            statement = sa.select(column).where(column != "").distinct().order_by(column)
            return tuple(str(v) for v in connection.execute(statement).scalars())

        with self.engine.connect() as connection:
            plans = connection.execute(sa.select(_plan.c.name).distinct().order_by(_plan.c.name))
            return Facets(
                statuses=("active", "inactive", "churned"),
                plans=tuple(plans.scalars()),
                storefronts=distinct(_c.c.storefront),
                regions=distinct(_c.c.region),
                billing_groups=distinct(_c.c.billing_group),
            )

    @contextmanager
    def _connect(self, should_stop: StopCheck | None) -> Iterator[sa.Connection]:
        """A connection whose SQLite statements stop soon after `should_stop()` turns
        true: a superseded search must not hold a core (and the GIL) for a second
        while the agent's next keystroke waits. The statement then raises
        `QueryStopped`."""
        with self.engine.connect() as connection:
            raw = connection.connection.driver_connection
            if should_stop is None or not isinstance(raw, sqlite3.Connection):
                yield connection
                return
            raw.set_progress_handler(lambda: 1 if should_stop() else 0, _PROGRESS_STEPS)
            try:
                yield connection
            except sa.exc.OperationalError as error:
                if should_stop():
                    raise QueryStopped() from error
                raise
            finally:
                raw.set_progress_handler(None, 0)

    # --------------------------------------------------------------- query building

    def _sort_expression(self, column: str) -> sa.ColumnElement[Any]:
        expression = {
            "name": _c.c.name,
            "email": _c.c.email,
            "status": _c.c.lifecycle_status,
            "plan": _c.c.current_plan,
            "mrr": _c.c.mrr_minor,
            "since": _c.c.registered_at,
            "storefront": _c.c.storefront,
            "ltv": _c.c.ltv_minor,
        }[column]
        # SQLite compares name and email with their NOCASE column collation; the
        # PostgreSQL server collates in C, so sort on lower() (indexed in 0002).
        if self.dialect == "postgresql" and column in {"name", "email"}:
            return sa.func.lower(expression)
        return expression

    def _select(
        self, query: DirectoryQuery, matcher: _Matcher, columns: list[Any]
    ) -> sa.Select[Any]:
        statement = sa.select(*columns).select_from(matcher.from_clause)
        for clause in (*matcher.where, *self._filter_clauses(query.filters)):
            statement = statement.where(clause)
        return statement

    def _filter_clauses(self, filters: DirectoryFilters) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        for column, values in (
            (_c.c.lifecycle_status, filters.statuses),
            (_c.c.current_plan, filters.plans),
            (_c.c.storefront, filters.storefronts),
            (_c.c.region, filters.regions),
            (_c.c.billing_group, filters.billing_groups),
        ):
            if values:
                clauses.append(column.in_(values))
        if filters.kind:
            clauses.append(_c.c.kind == filters.kind)
        if filters.registered_from:
            start = datetime.combine(filters.registered_from, time(), UTC)
            clauses.append(_c.c.registered_at >= start)
        if filters.registered_to:
            end = datetime.combine(filters.registered_to + timedelta(days=1), time(), UTC)
            clauses.append(_c.c.registered_at < end)
        if filters.has_active_subscription is not None:
            clauses.append(_c.c.has_active_subscription == filters.has_active_subscription)
        if filters.ltv_min_minor is not None:
            clauses.append(_c.c.ltv_minor >= filters.ltv_min_minor)
        if filters.ltv_max_minor is not None:
            clauses.append(_c.c.ltv_minor <= filters.ltv_max_minor)
        if filters.sets:
            from crm_tui.services import membership  # loads the tables: off cold start

            clauses.extend(membership.clause(name, _c.c.id) for name in filters.sets)
        return clauses

    # ----------------------------------------------------------------------- search

    def _matcher(self, connection: sa.Connection, terms: SearchTerms) -> _Matcher:
        if not terms.text:
            return _Matcher(_c, [])
        if not terms.uses_trigrams:
            return _Matcher(_c, [self._or_id(terms, self._prefix_clause(terms.text))])
        if self.dialect == "postgresql":
            return self._postgres_matcher(terms)
        return self._sqlite_matcher(connection, terms)

    def _or_id(self, terms: SearchTerms, clause: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        """Also the customer whose id was typed, or the survivor of a merged-away id."""
        if terms.customer_id is None:
            return clause
        survivor = sa.select(_merged.c.survivor_id).where(
            _merged.c.old_customer_id == terms.customer_id
        )
        return sa.or_(clause, _c.c.id == terms.customer_id, _c.c.id.in_(survivor))

    def _prefix_clause(self, prefix: str) -> sa.ColumnElement[bool]:
        columns = (_c.c.name, _c.c.email, _c.c.company_name)
        if self.dialect == "postgresql":
            pattern = like_contains(prefix)[1:]  # escaped, with only the trailing %
            return sa.or_(*(sa.func.lower(c).like(pattern, escape="\\") for c in columns))
        # A range on the NOCASE columns uses their indexes, whatever the prefix holds.
        upper = _next_prefix(prefix)
        return sa.or_(*(sa.and_(c >= prefix, c < upper) for c in columns))

    @staticmethod
    def _fts_match(terms: SearchTerms) -> str:
        match = " AND ".join(fts_phrase(w) for w in terms.trigram_words())
        if terms.digits():
            match = f"({match}) OR {fts_phrase(terms.digits())}"
        return match

    def _fts_clauses(self, terms: SearchTerms) -> list[sa.ColumnElement[bool]]:
        """The FTS MATCH, plus a LIKE for each 1–2 character word beside longer ones."""
        short = [_fts.c.doc.like(like_contains(w), escape="\\") for w in terms.short_words()]
        matches = sa.text("customer_fts MATCH :match").bindparams(match=self._fts_match(terms))
        return [matches, *short]  # type: ignore[list-item]

    def _sqlite_matcher(self, connection: sa.Connection, terms: SearchTerms) -> _Matcher:
        words = terms.trigram_words()
        if self._is_narrow(connection, self._fts_match(terms)):
            if terms.customer_id is None:
                # Few matches: start from the index and join to the customers,
                # then filter and sort that small set.
                joined = _fts.join(_c, _c.c.id == _fts.c.rowid)
                return _Matcher(joined, self._fts_clauses(terms))
            in_index = sa.select(_fts.c.rowid).where(*self._fts_clauses(terms))
            return _Matcher(_c, [self._or_id(terms, _c.c.id.in_(in_index))])
        # Many matches: sorting them all would cost a second at a million rows.
        # Walk the customers in sort order instead and test each one's document
        # (one rowid look-up); a broad term fills a window after a few rows.
        doc = sa.select(_fts.c.doc).where(_fts.c.rowid == _c.c.id).scalar_subquery()
        clause: sa.ColumnElement[bool] = sa.and_(
            *(doc.like(like_contains(w), escape="\\") for w in words + terms.short_words())
        )
        if terms.digits():
            clause = sa.or_(clause, doc.like(like_contains(terms.digits()), escape="\\"))
        return _Matcher(_c, [self._or_id(terms, clause)])

    def _is_narrow(self, connection: sa.Connection, match: str) -> bool:
        probe = sa.text(
            "SELECT count(*) FROM (SELECT 1 FROM customer_fts WHERE customer_fts MATCH :m LIMIT :n)"
        )
        found = connection.execute(probe, {"m": match, "n": BROAD_MATCH_THRESHOLD + 1}).scalar_one()
        return int(found) <= BROAD_MATCH_THRESHOLD

    def _postgres_matcher(self, terms: SearchTerms) -> _Matcher:
        words = terms.trigram_words() + terms.short_words()
        clause: sa.ColumnElement[bool] = sa.and_(
            *(_pg_search.c.doc.like(like_contains(w), escape="\\") for w in words)
        )
        if terms.digits():
            clause = sa.or_(
                clause, _pg_search.c.doc.like(like_contains(terms.digits()), escape="\\")
            )
        if terms.customer_id is not None:
            in_index = sa.select(_pg_search.c.customer_id).where(clause)
            return _Matcher(_c, [self._or_id(terms, _c.c.id.in_(in_index))])
        joined = _pg_search.join(_c, _c.c.id == _pg_search.c.customer_id)
        return _Matcher(joined, [clause])

    @staticmethod
    def _row(row: Any) -> DirectoryRow:
        return DirectoryRow(
            id=row.id,
            name=row.name,
            email=row.email,
            status=row.lifecycle_status,
            plan=row.current_plan,
            mrr_minor=row.mrr_minor,
            currency=row.currency,
            registered_at=as_utc(row.registered_at),
            storefront=row.storefront,
            ltv_minor=row.ltv_minor,
            kind=row.kind,
            company_name=row.company_name,
            account_state=row.account_state,
            sort_key=(row.sort_value, row.id),
        )


@dataclass(frozen=True)
class _Matcher:
    """Where matching rows come from, and what they must satisfy."""

    from_clause: Any
    where: list[Any]
