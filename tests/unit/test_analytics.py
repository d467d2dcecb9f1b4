"""Analytics on both engines: every figure against values computed by hand from the
rows below, for a date range, another range, a directory filter and a search.

The shop (amounts in minor units; every time is 10:00 UTC on the day given; "ok" is
a succeeded payment; "net" what the customer paid, net of refunds):

- Iris, 2025-03-01, US: USD 120.00 yearly, expired (2025-03-01 → 2026-03-01).
  12000 ok 2025-03-01. Net 12000.
- Hugo, 2025-11-01, US: USD 19.00 monthly, cancelled (2025-11-01 → 2026-02-15), then
  a plan change to USD 49.00 monthly, active since 2026-02-15. 1900 ok 2025-12-01,
  4900 ok 02-15, 4900 FAILED 03-15, 4900 ok 03-16. Net 11700.
- Zed, 2025-12-10, EU: EUR 30.02 quarterly, active. 3002 ok 2025-12-10, 3002 ok 03-10.
  Net 6004.
- Ada, 2026-01-05, US: USD 120.00 yearly, active. 12000 partially refunded (2000).
  Net 10000.
- Bob, 2026-01-10, US: USD 19.00 monthly, cancelled (01-10 → 03-10). 1900 ok 01-10,
  1900 ok 02-10, 1900 FAILED 03-10. Net 3800.
- Cleo, 2026-01-20, EU: EUR 10.00 monthly, trial. No payments.
- Dan, 2026-02-03, US: USD 19.00 monthly, grace. 1900 ok 02-03, 1900 FAILED 03-03,
  1900 pending 04-03. Net 1900.
- Eve, 2026-02-14, EU, erased: EUR 10.00 monthly, paused. 1000 refunded in full. Net 0.
- Finn, 2026-04-02, US: no subscription. 30000 ok 04-02 (a one-off order). Net 30000.

Segments: Zed and Hugo Loyal, Finn High-value.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.services.analytics import (
    DEFINITION_BY_KEY,
    DEFINITIONS,
    LTV_BUCKET_EDGES,
    CurrencyAmount,
    LifetimeValue,
    LtvBucket,
    MonthCount,
    Rate,
    SegmentSize,
    compute_analytics,
)
from crm_tui.services.customer_summary import refresh_summary
from crm_tui.services.directory import DirectoryFilters
from tests.factories import (
    add_customer,
    add_payment,
    add_plan,
    add_refund,
    add_segment_member,
    add_subscription,
)

TODAY = date(2026, 6, 30)
JAN_TO_APRIL = {"start": date(2026, 1, 1), "end": date(2026, 4, 30)}
FEB_TO_APRIL = {"start": date(2026, 2, 1), "end": date(2026, 4, 30)}
US = DirectoryFilters(regions=("US",))


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=UTC)


def customer(c: Connection, name: str, registered: datetime, region: str, currency: str) -> int:
    return add_customer(
        c,
        name=name,
        email=f"{name.lower()}@example.com",
        registered_at=registered,
        region=region,
        currency=currency,
    )


def monthly(plan: int, amount: int, currency: str, cycle: str = "monthly") -> dict[str, object]:
    return {"plan_id": plan, "amount_minor": amount, "currency": currency, "cycle": cycle}


@pytest.fixture
def shop(engine: Engine) -> dict[str, int]:
    with engine.begin() as c:
        usd, eur = add_plan(c, "basic-usd"), add_plan(c, "basic-eur", currency="EUR")
        ids = {
            "iris": customer(c, "Iris", at(2025, 3, 1), "US", "USD"),
            "hugo": customer(c, "Hugo", at(2025, 11, 1), "US", "USD"),
            "zed": customer(c, "Zed", at(2025, 12, 10), "EU", "EUR"),
            "ada": customer(c, "Ada", at(2026, 1, 5), "US", "USD"),
            "bob": customer(c, "Bob", at(2026, 1, 10), "US", "USD"),
            "cleo": customer(c, "Cleo", at(2026, 1, 20), "EU", "EUR"),
            "dan": customer(c, "Dan", at(2026, 2, 3), "US", "USD"),
            "eve": customer(c, "Eve", at(2026, 2, 14), "EU", "EUR"),
            "finn": customer(c, "Finn", at(2026, 4, 2), "US", "USD"),
        }
        _subscriptions(c, ids, usd, eur)
        _payments(c, ids)
        for customer_id in ids.values():
            refresh_summary(c, customer_id)  # has_active_subscription, as the services keep it
        # Erased customers keep their rows and money, and are counted (see analytics.py).
        table = tables.Customer.__table__  # type: ignore[attr-defined]
        c.execute(sa.update(table).where(table.c.id == ids["eve"]).values(erased_at=at(2026, 5, 1)))
        for name, code in (("zed", "loyal"), ("hugo", "loyal"), ("finn", "high_value")):
            add_segment_member(c, ids[name], code)
    return ids


def _subscriptions(c: Connection, ids: dict[str, int], usd: int, eur: int) -> None:
    def sub(
        name: str, status: str, started: datetime, terms: dict[str, object], **more: object
    ) -> None:
        add_subscription(c, ids[name], status=status, started_at=started, **terms, **more)

    sub("iris", "expired", at(2025, 3, 1), monthly(usd, 12000, "USD", "yearly"),
        ended_at=at(2026, 3, 1))  # fmt: skip
    sub("hugo", "cancelled", at(2025, 11, 1), monthly(usd, 1900, "USD"),
        cancelled_at=at(2026, 2, 1), ended_at=at(2026, 2, 15))  # fmt: skip
    sub("hugo", "active", at(2026, 2, 15), monthly(usd, 4900, "USD"))  # a plan change
    sub("zed", "active", at(2025, 12, 10), monthly(eur, 3002, "EUR", "quarterly"))
    sub("ada", "active", at(2026, 1, 5), monthly(usd, 12000, "USD", "yearly"))
    sub("bob", "cancelled", at(2026, 1, 10), monthly(usd, 1900, "USD"),
        cancelled_at=at(2026, 3, 10), ended_at=at(2026, 3, 10))  # fmt: skip
    sub("cleo", "trial", at(2026, 1, 20), monthly(eur, 1000, "EUR"))
    sub("dan", "grace", at(2026, 2, 3), monthly(usd, 1900, "USD"))
    sub("eve", "paused", at(2026, 2, 14), monthly(eur, 1000, "EUR"))


def _payments(c: Connection, ids: dict[str, int]) -> None:
    def pay(
        name: str, amount: int, when: datetime, status: str = "succeeded", **more: object
    ) -> int:
        currency = "EUR" if name in {"zed", "eve"} else "USD"
        return add_payment(
            c, ids[name], amount_minor=amount, currency=currency, status=status,
            created_at=when, **more,
        )  # fmt: skip

    pay("iris", 12000, at(2025, 3, 1))
    pay("hugo", 1900, at(2025, 12, 1))
    pay("hugo", 4900, at(2026, 2, 15))
    pay("hugo", 4900, at(2026, 3, 15), "failed")
    pay("hugo", 4900, at(2026, 3, 16))
    pay("zed", 3002, at(2025, 12, 10))
    pay("zed", 3002, at(2026, 3, 10))
    refunded = pay("ada", 12000, at(2026, 1, 5), "partially_refunded", refunded_minor=2000)
    add_refund(c, refunded, 2000, created_at=at(2026, 1, 20))
    pay("bob", 1900, at(2026, 1, 10))
    pay("bob", 1900, at(2026, 2, 10))
    pay("bob", 1900, at(2026, 3, 10), "failed")
    pay("dan", 1900, at(2026, 2, 3))
    pay("dan", 1900, at(2026, 3, 3), "failed")
    pay("dan", 1900, at(2026, 4, 3), "pending")
    returned = pay("eve", 1000, at(2026, 2, 14), "refunded", refunded_minor=1000)
    add_refund(c, returned, 1000, currency="EUR", created_at=at(2026, 2, 20))
    pay("finn", 30000, at(2026, 4, 2))


def months(*pairs: tuple[str, int]) -> tuple[MonthCount, ...]:
    return tuple(MonthCount(date.fromisoformat(f"{m}-01"), n) for m, n in pairs)


def buckets(currency: str, *counts: tuple[int, int | None, int]) -> tuple[LtvBucket, ...]:
    return tuple(LtvBucket(currency, low, high, n) for low, high, n in counts)


SEGMENTS_ALL = (
    SegmentSize("new", "New", 0),
    SegmentSize("loyal", "Loyal", 2),
    SegmentSize("at_risk", "At-risk", 0),
    SegmentSize("high_value", "High-value", 1),
    SegmentSize("churned", "Churned", 0),
    SegmentSize("business", "Business", 0),
)


def test_every_figure_for_january_to_april(engine: Engine, shop: dict[str, int]) -> None:
    figures = compute_analytics(engine, **JAN_TO_APRIL, today=TODAY)
    assert (figures.start, figures.end) == (date(2026, 1, 1), date(2026, 4, 30))
    # Nine customers, Eve (erased) included; active: Hugo, Zed, Ada (active), Cleo
    # (trial), Dan (grace); not Iris (expired), Bob (cancelled), Eve (paused), Finn.
    assert (figures.total_customers, figures.active_customers) == (9, 5)
    assert figures.inactive_customers == 4
    # Ada, Bob, Cleo in January; Dan, Eve in February; nobody in March; Finn in April.
    assert figures.acquisition == months(("2026-01", 3), ("2026-02", 2), ("2026-03", 0),
                                         ("2026-04", 1))  # fmt: skip
    # Iris, Hugo and Zed were there before the range.
    assert figures.growth == months(("2026-01", 6), ("2026-02", 8), ("2026-03", 8),
                                    ("2026-04", 9))  # fmt: skip
    # USD: Hugo 11700, Iris 12000, Ada 10000, Bob 3800, Dan 1900, Finn 30000 = 69400 / 6
    # = 11566.67 → 11567. EUR: Zed 6004, Eve 0 (refunded in full) = 6004 / 2 = 3002.
    # Cleo never paid: in neither.
    assert figures.lifetime_value == (
        LifetimeValue("EUR", customers=2, total_minor=6004, average_minor=3002),
        LifetimeValue("USD", customers=6, total_minor=69400, average_minor=11567),
    )
    assert figures.lifetime_value_distribution == buckets(
        "EUR", (0, 100, 1), (100, 200, 0), (200, 500, 0), (500, 1000, 0), (1000, 2000, 0),
        (2000, 5000, 0), (5000, 10000, 1),
    ) + buckets(
        "USD", (1000, 2000, 1), (2000, 5000, 1), (5000, 10000, 0), (10000, 20000, 3),
        (20000, 50000, 1),
    )  # fmt: skip
    # Running at Jan 1: Iris, Hugo, Zed. At the close (May 1) Iris's had expired; Hugo
    # changed plans, which is not churn.
    assert figures.churn == Rate(count=1, out_of=3)
    # Settled in the range: Zed 1, Hugo 3, Ada 1, Bob 3, Dan 2 (the pending one is not
    # settled), Eve 1, Finn 1 = 12; failed: Hugo, Bob, Dan = 3.
    assert figures.payment_failures == Rate(count=3, out_of=12)
    assert figures.payment_failures.value == 0.25
    # USD: Hugo 49.00 + Ada 120.00 / 12 + Dan 19.00 (grace bills) = 78.00; Cleo's trial
    # and Eve's pause do not bill. EUR: Zed 30.02 / 3 = 10.0067 → 10.01.
    assert figures.mrr == (CurrencyAmount("EUR", 1001), CurrencyAmount("USD", 7800))
    assert figures.segments == SEGMENTS_ALL
    assert set(figures.timings) == {
        "selection",
        "customers", "acquisition", "lifetime_value", "churn", "payment_failures", "mrr",
        "segments",
    }  # fmt: skip


def test_another_range_changes_the_range_figures_only(engine: Engine, shop: dict[str, int]) -> None:
    january = compute_analytics(engine, **JAN_TO_APRIL, today=TODAY)
    figures = compute_analytics(engine, **FEB_TO_APRIL, today=TODAY)
    assert figures.acquisition == months(("2026-02", 2), ("2026-03", 0), ("2026-04", 1))
    assert figures.growth == months(("2026-02", 8), ("2026-03", 8), ("2026-04", 9))
    # Running at Feb 1: Iris, Hugo, Zed, Ada, Bob, Cleo. Gone at the close: Iris
    # (expired Mar 1), Bob (cancelled Mar 10).
    assert figures.churn == Rate(count=2, out_of=6)
    # Ada's January payment and Bob's first one fall out: 10 settled, 3 failed.
    assert figures.payment_failures == Rate(count=3, out_of=10)
    for same in ("total_customers", "active_customers", "lifetime_value", "mrr", "segments"):
        assert getattr(figures, same) == getattr(january, same)


def test_a_directory_filter_selects_the_customers(engine: Engine, shop: dict[str, int]) -> None:
    figures = compute_analytics(engine, **FEB_TO_APRIL, filters=US, today=TODAY)
    # Iris, Hugo, Ada, Bob, Dan, Finn; active: Hugo, Ada, Dan.
    assert (figures.total_customers, figures.active_customers) == (6, 3)
    assert figures.acquisition == months(("2026-02", 1), ("2026-03", 0), ("2026-04", 1))
    assert figures.growth == months(("2026-02", 5), ("2026-03", 5), ("2026-04", 6))
    assert figures.lifetime_value == (
        LifetimeValue("USD", customers=6, total_minor=69400, average_minor=11567),
    )
    assert [b.currency for b in figures.lifetime_value_distribution] == ["USD"] * 5
    # At Feb 1: Iris, Hugo, Ada, Bob; Iris and Bob gone by May 1.
    assert figures.churn == Rate(count=2, out_of=4)
    # Hugo 3, Bob 2, Dan 2, Finn 1 from Feb 1 on; failed: Hugo, Bob, Dan.
    assert figures.payment_failures == Rate(count=3, out_of=8)
    assert figures.mrr == (CurrencyAmount("USD", 7800),)
    assert figures.segments == tuple(
        SegmentSize(s.code, s.name, {"loyal": 1, "high_value": 1}.get(s.code, 0))
        for s in SEGMENTS_ALL
    )


def test_a_search_selects_the_customers(engine: Engine, shop: dict[str, int]) -> None:
    figures = compute_analytics(engine, **JAN_TO_APRIL, search="zed", today=TODAY)
    assert (figures.total_customers, figures.active_customers) == (1, 1)
    assert figures.mrr == (CurrencyAmount("EUR", 1001),)
    assert figures.lifetime_value == (LifetimeValue("EUR", 1, 6004, 6004),)
    assert figures.payment_failures == Rate(count=0, out_of=1)
    assert figures.churn == Rate(count=0, out_of=1)


def test_without_a_start_the_range_begins_with_the_first_customer(
    engine: Engine, shop: dict[str, int]
) -> None:
    figures = compute_analytics(engine, start=None, end=None, today=TODAY)
    assert (figures.start, figures.end) == (None, TODAY)
    # March 2025 (Iris) to June 2026: sixteen months.
    assert len(figures.acquisition) == 16
    assert figures.acquisition[0] == MonthCount(date(2025, 3, 1), 1)
    assert figures.growth[-1] == MonthCount(date(2026, 6, 1), 9)
    assert sum(m.customers for m in figures.acquisition) == 9
    # Nobody was subscribed before the first customer came: no churn rate.
    assert figures.churn == Rate(0, 0)
    assert figures.churn.value is None
    # Every settled payment: 16 payments, one pending; three failed.
    assert figures.payment_failures == Rate(count=3, out_of=15)


def test_an_empty_selection_has_no_rates_and_no_money(engine: Engine, shop: dict[str, int]) -> None:
    figures = compute_analytics(
        engine, **JAN_TO_APRIL, filters=DirectoryFilters(regions=("APAC",)), today=TODAY
    )
    assert (figures.total_customers, figures.active_customers, figures.inactive_customers) == (
        0, 0, 0,
    )  # fmt: skip
    assert figures.acquisition == months(("2026-01", 0), ("2026-02", 0), ("2026-03", 0),
                                         ("2026-04", 0))  # fmt: skip
    assert (figures.lifetime_value, figures.lifetime_value_distribution, figures.mrr) == (
        (), (), (),
    )  # fmt: skip
    assert (figures.churn.value, figures.payment_failures.value) == (None, None)


def test_a_range_that_ends_before_it_starts_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="starts"):
        compute_analytics(engine, start=date(2026, 5, 1), end=date(2026, 4, 30), today=TODAY)


def test_every_figure_in_the_json_has_its_definition(engine: Engine, shop: dict[str, int]) -> None:
    answer = compute_analytics(engine, **JAN_TO_APRIL, today=TODAY).as_json()
    assert answer["range"] == {"from": "2026-01-01", "to": "2026-04-30"}
    assert answer["customers"] == DEFINITION_BY_KEY["customers"].text
    figures = answer["figures"]
    assert set(figures) == {d.key for d in DEFINITIONS} - {"customers"}
    for key, figure in figures.items():
        assert figure["definition"] == DEFINITION_BY_KEY[key].text
        assert figure["title"] == DEFINITION_BY_KEY[key].title
    assert figures["churn_rate"]["value"] == {"value": 1 / 3, "count": 1, "out_of": 3}
    assert figures["acquisition"]["value"][0] == {"month": "2026-01", "customers": 3}
    assert figures["mrr"]["value"] == [
        {"currency": "EUR", "amount_minor": 1001},
        {"currency": "USD", "amount_minor": 7800},
    ]


def test_bucket_edges_run_on_a_1_2_5_scale() -> None:
    assert LTV_BUCKET_EDGES[:8] == (0, 100, 200, 500, 1000, 2000, 5000, 10000)
    assert list(LTV_BUCKET_EDGES) == sorted(set(LTV_BUCKET_EDGES))


def test_definitions_are_unique_and_said() -> None:
    keys = [d.key for d in DEFINITIONS]
    assert len(keys) == len(set(keys))
    assert all(d.title and len(d.text) > 40 for d in DEFINITIONS)


def test_churn_at_the_edges_of_the_range(engine: Engine) -> None:
    """Running at the start means not ended by its first moment; staying means not ended
    before the first moment after the range."""
    with engine.begin() as c:
        plan = add_plan(c)
        for name, ended in (
            ("Pia", datetime(2026, 2, 1, tzinfo=UTC)),  # ended as the range began: not counted
            ("Quin", datetime(2026, 5, 1, tzinfo=UTC)),  # ran to the range's end: stayed
            ("Rae", datetime(2026, 4, 30, 23, 59, tzinfo=UTC)),  # the last minute: churned
        ):
            joined = at(2025, 12, 1)
            customer_id = customer(c, name, joined, "US", "USD")
            add_subscription(
                c, customer_id, plan, status="cancelled", started_at=joined, ended_at=ended
            )
    figures = compute_analytics(engine, **FEB_TO_APRIL, today=TODAY)
    assert figures.churn == Rate(count=1, out_of=2)


def test_filtered_twice_on_one_engine(engine: Engine, shop: dict[str, int]) -> None:
    """The selection's temporary table goes with each call's transaction: the pooled
    connection that the next call gets has none left over."""
    first = compute_analytics(engine, **JAN_TO_APRIL, filters=US, today=TODAY)
    again = compute_analytics(engine, **JAN_TO_APRIL, filters=US, today=TODAY)
    assert first == again
    assert first.total_customers == 6
