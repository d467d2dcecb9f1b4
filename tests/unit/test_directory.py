"""The directory service on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.services import directory as d
from crm_tui.services.actor import Actor
from tests.factories import T0, add_customer, add_plan, add_subscription

SYSTEM = Actor.system()


@pytest.fixture
def service(engine: Engine) -> d.DirectoryService:
    with engine.begin() as c:
        gold = add_plan(c, "gold")
        add_customer(
            c,
            name="Ada Lovelace",
            email="ada@analytical.org",
            phone="+44 20 7946 0018",
            current_plan="Gold",
            mrr_minor=4900,
            ltv_minor=120000,
            storefront="web",
        )
        grace = add_customer(
            c,
            name="grace hopper",
            email="grace@navy.mil",
            region="US",
            lifecycle_status="churned",
            ltv_minor=5000,
            storefront="ios",
            registered_at=T0 + timedelta(days=40),
        )
        add_customer(
            c,
            name="Zoë Müller",
            email="zoe@beispiel.de",
            kind="business",
            company_name="Müller Maschinenbau GmbH",
            billing_group="DACH",
            lifecycle_status="inactive",
            storefront="partner",
            registered_at=T0 - timedelta(days=400),
        )
        add_customer(
            c,
            name="Bob 100% [bold]Tables[/bold]",
            email="bob_tables@example.com",
            ltv_minor=999,
            storefront="web",
        )
        add_subscription(c, grace, gold, provider_id="sub_1NhX9zKq")
    return d.DirectoryService(engine)


def names(rows: list[d.DirectoryRow]) -> list[str]:
    return [r.name for r in rows]


def search(service: d.DirectoryService, text: str, **kw: object) -> list[str]:
    return names(service.window(d.DirectoryQuery(search=text, **kw), SYSTEM))  # type: ignore[arg-type]


def test_sorted_by_name_case_insensitively(service: d.DirectoryService) -> None:
    assert search(service, "") == [
        "Ada Lovelace",
        "Bob 100% [bold]Tables[/bold]",
        "grace hopper",
        "Zoë Müller",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lovel", ["Ada Lovelace"]),  # part of a name
        ("LOVEL", ["Ada Lovelace"]),  # any case
        ("ada@analytical.org", ["Ada Lovelace"]),  # full email
        ("navy", ["grace hopper"]),  # part of an email
        ("maschinen", ["Zoë Müller"]),  # company name
        ("sub_1nhx", ["grace hopper"]),  # a subscription's provider id
        ("7946 0018", ["Ada Lovelace"]),  # phone as typed
        ("79460018", ["Ada Lovelace"]),  # phone as digits
        ("grace navy", ["grace hopper"]),  # every word must match
        ("gr", ["grace hopper"]),  # 1–2 characters: prefix
        ("zo", ["Zoë Müller"]),
        ("ov", []),  # …and only a prefix
        ("100%", ["Bob 100% [bold]Tables[/bold]"]),  # % is text, not a wildcard
        ("bob%t", []),  # …nor is this one
        ("b_y", []),  # _ is text, not a wildcard
        ("bob_t", ["Bob 100% [bold]Tables[/bold]"]),
        ('"', []),  # FTS syntax is text
        ('tables" OR "ada', []),
        ("NEAR(a b)", []),
        ("[bold]", ["Bob 100% [bold]Tables[/bold]"]),
        ("nobody-here", []),
    ],
)
def test_search(service: d.DirectoryService, text: str, expected: list[str]) -> None:
    assert search(service, text) == expected


def test_search_by_customer_id(service: d.DirectoryService, engine: Engine) -> None:
    with engine.connect() as c:
        grace_id = c.execute(
            sa.text("SELECT id FROM customer WHERE email = 'grace@navy.mil'")
        ).scalar()
    assert search(service, str(grace_id)) == ["grace hopper"]
    assert search(service, f"#{grace_id}") == ["grace hopper"]


def test_search_index_follows_changes(service: d.DirectoryService, engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(
            sa.text(
                "UPDATE customer SET email = 'ada@difference.engine' WHERE name = 'Ada Lovelace'"
            )
        )
    assert search(service, "analytical") == []
    assert search(service, "difference") == ["Ada Lovelace"]
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM subscription"))
    assert search(service, "sub_1nhx") == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (d.DirectoryFilters(statuses=("churned",)), ["grace hopper"]),
        (
            d.DirectoryFilters(storefronts=("web",)),
            ["Ada Lovelace", "Bob 100% [bold]Tables[/bold]"],
        ),
        (d.DirectoryFilters(regions=("US",)), ["grace hopper"]),
        (d.DirectoryFilters(kind="business"), ["Zoë Müller"]),
        (d.DirectoryFilters(billing_groups=("DACH",)), ["Zoë Müller"]),
        (d.DirectoryFilters(plans=("Gold",)), ["Ada Lovelace"]),
        (d.DirectoryFilters(ltv_min_minor=5000), ["Ada Lovelace", "grace hopper"]),
        (d.DirectoryFilters(ltv_min_minor=1000, ltv_max_minor=5000), ["grace hopper"]),
        (d.DirectoryFilters(registered_from=date(2026, 2, 1)), ["grace hopper"]),
        (d.DirectoryFilters(registered_to=date(2025, 1, 1)), ["Zoë Müller"]),
        (
            d.DirectoryFilters(registered_from=T0.date(), registered_to=T0.date()),
            ["Ada Lovelace", "Bob 100% [bold]Tables[/bold]"],
        ),
        (d.DirectoryFilters(has_active_subscription=True), []),
        (
            d.DirectoryFilters(statuses=("active",), storefronts=("web",), ltv_min_minor=100000),
            ["Ada Lovelace"],
        ),
    ],
)
def test_filters(
    service: d.DirectoryService, filters: d.DirectoryFilters, expected: list[str]
) -> None:
    assert search(service, "", filters=filters) == expected
    assert service.count(d.DirectoryQuery(filters=filters), SYSTEM) == d.MatchCount(
        len(expected), False
    )


def test_search_and_filter_combine(service: d.DirectoryService) -> None:
    query = d.DirectoryQuery(search="example", filters=d.DirectoryFilters(storefronts=("ios",)))
    assert service.window(query, SYSTEM) == []


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("ltv", ["Zoë Müller", "Bob 100% [bold]Tables[/bold]", "grace hopper", "Ada Lovelace"]),
        ("since", ["Zoë Müller", "Ada Lovelace", "Bob 100% [bold]Tables[/bold]", "grace hopper"]),
        ("email", ["Ada Lovelace", "Bob 100% [bold]Tables[/bold]", "grace hopper", "Zoë Müller"]),
        ("status", ["Ada Lovelace", "Bob 100% [bold]Tables[/bold]", "grace hopper", "Zoë Müller"]),
        (
            "storefront",
            ["grace hopper", "Zoë Müller", "Ada Lovelace", "Bob 100% [bold]Tables[/bold]"],
        ),
    ],
)
def test_sort_both_ways(service: d.DirectoryService, column: str, expected: list[str]) -> None:
    assert search(service, "", sort=d.Sort(column)) == expected
    assert search(service, "", sort=d.Sort(column, descending=True)) == expected[::-1]


def test_unknown_sort_column_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot sort by"):
        d.Sort("password")


def _many(engine: Engine, n: int) -> None:
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO customer (kind, name, email, phone, company_name, company_reg_no,"
                " company_email, vat_id, billing_group, billing_contact, storefront, region,"
                " country, timezone, registered_at, account_state, lifecycle_status, current_plan,"
                " has_active_subscription, currency, mrr_minor, ltv_minor, version, updated_at)"
                " VALUES ('individual', :name, :email, '', '', '', '', '', '', '', 'web', 'EU',"
                " 'DE', 'UTC', :at, 'active', 'active', '', false, 'EUR', 0, :ltv, 1, :at)"
            ),
            [
                {
                    "name": f"Customer {i:04d}",
                    "email": f"c{i}@example.com",
                    "ltv": i % 7,
                    "at": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
                }
                for i in range(n)
            ],
        )


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("column", ["name", "ltv"])
def test_keyset_paging_visits_every_row_once(engine: Engine, column: str, descending: bool) -> None:
    _many(engine, 250)
    service = d.DirectoryService(engine)
    query = d.DirectoryQuery(sort=d.Sort(column, descending))
    seen: list[int] = []
    rows = service.window(query, SYSTEM, limit=40)
    while rows:
        seen += [r.id for r in rows]
        rows = service.window(query, SYSTEM, after=rows[-1].sort_key, limit=40)
    everything = [r.id for r in service.window(query, SYSTEM, limit=1000)]
    assert seen == everything and len(set(seen)) == 250
    # Backwards from the end gives the same order.
    last = service.window(query, SYSTEM, from_end=True, limit=40)
    assert [r.id for r in last] == everything[-40:]
    before = service.window(query, SYSTEM, before=last[0].sort_key, limit=40)
    assert [r.id for r in before] == everything[-80:-40]


def test_counts_are_capped(engine: Engine) -> None:
    _many(engine, 120)
    service = d.DirectoryService(engine)
    assert service.count(d.DirectoryQuery(), SYSTEM) == d.MatchCount(120, False)
    assert service.count(d.DirectoryQuery(search="example"), SYSTEM, cap=100) == d.MatchCount(
        100, True
    )
    assert str(d.MatchCount(10_000, True)) == "10,000+"
    assert service.count(d.DirectoryQuery(search="customer 004"), SYSTEM) == d.MatchCount(11, False)


@pytest.mark.parametrize("search", ["", "customer 004", "c1", "example"])
def test_marked_ids_are_every_match_past_the_count_cap_minus_unmarked(
    engine: Engine, search: str
) -> None:
    _many(engine, 120)
    service = d.DirectoryService(engine)
    query = d.DirectoryQuery(search=search, filters=d.DirectoryFilters(ltv_max_minor=3))
    shown = [r.id for r in service.window(query, SYSTEM, limit=500)]
    with engine.connect() as c:
        every = set(c.execute(service.marked_ids(query, set())).scalars())
        assert every == set(shown) and len(every) == len(shown)
        some = set(shown[:3])
        assert set(c.execute(service.marked_ids(query, some)).scalars()) == set(shown) - some
        assert set(c.execute(service.marked_ids(None, some)).scalars()) == some


def test_counts_agree_with_windows(service: d.DirectoryService) -> None:
    """Counts start from the search index; windows may walk the sort index. Same answers."""
    queries = [
        d.DirectoryQuery(search="example"),
        d.DirectoryQuery(search="gra"),
        d.DirectoryQuery(search="a"),
        d.DirectoryQuery(search="1"),  # customer #1 (and every "1" prefix)
        d.DirectoryQuery(search="#2"),
        d.DirectoryQuery(search="7946"),  # digits of Ada's phone and not customer #7946
        d.DirectoryQuery(search="org", filters=d.DirectoryFilters(storefronts=("web",))),
        d.DirectoryQuery(search="müller ma", filters=d.DirectoryFilters(kind="business")),
        d.DirectoryQuery(filters=d.DirectoryFilters(statuses=("churned",))),
    ]
    for query in queries:
        shown = service.window(query, SYSTEM, limit=1000)
        assert service.count(query, SYSTEM) == d.MatchCount(len(shown), False), query


def test_count_with_an_id_does_not_count_twice(engine: Engine) -> None:
    _many(engine, 30)
    service = d.DirectoryService(engine)
    # "12" is customer #12 and the text of c12@example.com, c120…: one customer, once.
    query = d.DirectoryQuery(search="#12")
    assert [r.id for r in service.window(query, SYSTEM)] == [12]
    assert service.count(query, SYSTEM) == d.MatchCount(1, False)
    query = d.DirectoryQuery(search="123")  # no customer #123 here; c123 not either
    assert service.count(query, SYSTEM) == d.MatchCount(0, False)


def test_a_superseded_query_stops(engine: Engine) -> None:
    """A search the agent has typed past is stopped mid-query, not run to the end."""
    _many(engine, 2000)
    service = d.DirectoryService(engine)
    calls = 0

    def stop_now() -> bool:
        nonlocal calls
        calls += 1
        return True

    query = d.DirectoryQuery(search="example", sort=d.Sort("ltv"))
    if engine.dialect.name == "sqlite":
        with pytest.raises(d.QueryStopped):
            service.count(query, SYSTEM, should_stop=stop_now)
        assert calls >= 1
    # Not stopped, the connection is as good as new (the handler was taken off).
    assert service.count(query, SYSTEM, should_stop=lambda: False).value == 2000
    assert service.count(query, SYSTEM).value == 2000


def test_broad_search_walks_in_sort_order(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the threshold the SQLite plan changes; the answers must not."""
    _many(engine, 60)
    service = d.DirectoryService(engine)
    query = d.DirectoryQuery(search="5@example", sort=d.Sort("since", descending=True))
    narrow = [r.id for r in service.window(query, SYSTEM)]
    monkeypatch.setattr(d, "BROAD_MATCH_THRESHOLD", 3)
    assert [r.id for r in service.window(query, SYSTEM)] == narrow
    assert len(narrow) == 6  # c5, c15, ..., c55 — and no row twice


def test_facets(service: d.DirectoryService) -> None:
    facets = service.facets(SYSTEM)
    assert facets.storefronts == ("ios", "partner", "web")
    assert facets.regions == ("EU", "US")
    assert facets.billing_groups == ("DACH",)
    assert facets.plans == ("Gold",)


@pytest.mark.parametrize(
    ("text", "minor"), [("0", 0), ("12", 1200), ("1,234.5", 123450), (" 99.99 ", 9999)]
)
def test_parse_amount(text: str, minor: int) -> None:
    assert d.parse_amount_minor(text) == minor


@pytest.mark.parametrize("text", ["-1", "1.234", "abc", "1e400", "NaN", "", "12,34,5.6.7"])
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        d.parse_amount_minor(text)
