"""Segments on both engines: each rule at its edges, thresholds from settings, the
High-value boundary, and counts that follow changes made through the real services.

Every rule test also checks that the two ways of computing agree: the set-based
`recompute_all` and the one-customer `refresh_customer` (run for every customer
afterwards, it must change nothing).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.config import ConfigError, Settings, load_settings
from crm_tui.models import tables
from crm_tui.services import membership, segments
from crm_tui.services.account_actions import AccountActions
from crm_tui.services.actor import Actor
from crm_tui.services.customer_summary import refresh_summary
from crm_tui.services.directory import (
    DirectoryFilters,
    DirectoryQuery,
    DirectoryService,
)
from crm_tui.services.providers.offline import OfflineProvider
from crm_tui.services.refunds import RefundService
from crm_tui.services.segments import (
    SEGMENTS,
    SegmentRules,
    SegmentService,
    UnknownSegment,
    months_before,
    segment_filter,
)
from tests.factories import (
    add_customer,
    add_payment,
    add_plan,
    add_segment_member,
    add_subscription,
    add_usage,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
AGENT = Actor.agent("ana", agent_id=None, display_name="Ana")
_member = tables.SQLModel.metadata.tables["customer_segment"]
_customer = tables.SQLModel.metadata.tables["customer"]
_payment = tables.SQLModel.metadata.tables["payment"]


def days_ago(days: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


def members(engine: Engine, code: str) -> set[int]:
    with engine.connect() as connection:
        return set(connection.execute(segments.segment_members(code)).scalars())


def memberships(engine: Engine) -> set[tuple[int, int, Any]]:
    with engine.connect() as connection:
        return {
            (row.customer_id, row.segment_id, row.computed_at)
            for row in connection.execute(sa.select(_member))
        }


def recompute(engine: Engine, now: datetime = NOW, **rules: int) -> SegmentService:
    """recompute_all, then refresh_customer for every customer: the latter must agree."""
    service = SegmentService(engine, SegmentRules(**rules))
    service.recompute_all(now)
    before = memberships(engine)
    with engine.connect() as connection:
        ids = list(connection.execute(sa.select(_customer.c.id)).scalars())
    for customer_id in ids:
        service.refresh_customer(customer_id, now)
    assert memberships(engine) == before, "refresh_customer disagrees with recompute_all"
    return service


# ------------------------------------------------------------------------ rules


def test_new_is_registered_in_the_last_30_days(engine: Engine) -> None:
    with engine.begin() as c:
        day_29 = add_customer(c, registered_at=days_ago(29))
        day_30 = add_customer(c, registered_at=days_ago(30))
        day_31 = add_customer(c, registered_at=days_ago(31))
        today = add_customer(c, registered_at=NOW)
    service = recompute(engine)
    assert members(engine, "new") == {day_29, day_30, today}
    assert day_31 not in members(engine, "new")
    assert service.counts()["new"] == 3
    assert service.segments_of(day_29) == ("new",)
    assert service.segments_of(day_31) == ()


def test_loyal_is_six_months_subscribed_without_a_failed_payment(engine: Engine) -> None:
    cutoff = months_before(NOW, 6)
    assert cutoff == datetime(2025, 12, 15, 12, 0, tzinfo=UTC)
    long_ago = NOW - timedelta(days=400)
    with engine.begin() as c:
        plan = add_plan(c)

        def customer(*subs: dict[str, Any], failed_at: datetime | None = None) -> int:
            customer_id = add_customer(c, registered_at=long_ago)
            for values in subs:
                add_subscription(c, customer_id, plan, **values)
            if failed_at is not None:
                add_payment(c, customer_id, status="failed", created_at=failed_at)
                add_payment(c, customer_id, status="succeeded", created_at=failed_at)
            return customer_id

        minus_a_day = customer({"started_at": cutoff + timedelta(days=1)})
        plus_a_day = customer({"started_at": cutoff - timedelta(days=1)})
        on_the_day = customer({"started_at": cutoff})
        failed_inside = customer({"started_at": long_ago}, failed_at=days_ago(150))
        failed_outside = customer({"started_at": long_ago}, failed_at=cutoff - timedelta(days=1))
        paused = customer({"started_at": long_ago, "status": "paused"})
        # An upgrade: the old plan ran at the cut-off, the new one is live now.
        upgraded = customer(
            {"started_at": long_ago, "status": "cancelled", "ended_at": days_ago(60)},
            {"started_at": days_ago(60)},
        )
        # Back after a gap: nothing ran at the cut-off.
        returned = customer(
            {"started_at": long_ago, "status": "cancelled", "ended_at": cutoff - timedelta(days=3)},
            {"started_at": days_ago(100)},
        )
        cancelled = customer(
            {"started_at": long_ago, "status": "cancelled", "ended_at": days_ago(10)}
        )
        never = customer()
    recompute(engine)
    loyal = members(engine, "loyal")
    assert loyal == {plus_a_day, on_the_day, failed_outside, paused, upgraded}
    assert not loyal & {minus_a_day, failed_inside, returned, cancelled, never}


def test_at_risk_failed_payment_59_in_61_out(engine: Engine) -> None:
    with engine.begin() as c:
        day_59 = add_customer(c)
        add_payment(c, day_59, status="failed", created_at=days_ago(59))
        day_61 = add_customer(c)
        add_payment(c, day_61, status="failed", created_at=days_ago(61))
        paid = add_customer(c)
        add_payment(c, paid, status="succeeded", created_at=days_ago(5))
    recompute(engine)
    assert members(engine, "at_risk") == {day_59}


def test_at_risk_subscription_set_to_cancel(engine: Engine) -> None:
    with engine.begin() as c:
        plan = add_plan(c)
        cancelling = add_customer(c)
        add_subscription(c, cancelling, plan, cancel_at_period_end=True)
        renewing = add_customer(c)
        add_subscription(c, renewing, plan)
        # The seeder (and Stripe) leave the flag on subscriptions that have since ended.
        ended = add_customer(c)
        add_subscription(
            c, ended, plan, status="cancelled", cancel_at_period_end=True, ended_at=days_ago(200)
        )
    recompute(engine)
    assert members(engine, "at_risk") == {cancelling}


def test_at_risk_usage_halved_against_the_three_months_before(engine: Engine) -> None:
    # NOW is in June 2026: May is the last complete month, February–April the ones before.
    feb, mar, apr, may, jun = (date(2026, month, 1) for month in (2, 3, 4, 5, 6))
    with engine.begin() as c:
        plan = add_plan(c)

        def customer(usage: dict[date, int], status: str = "active", metric: str = "logins") -> int:
            customer_id = add_customer(c)
            sub = add_subscription(c, customer_id, plan, status=status)
            for month, quantity in usage.items():
                add_usage(c, sub, month, quantity, metric)
            return customer_id

        halved = customer({feb: 90, mar: 100, apr: 110, may: 50})
        not_quite = customer({feb: 90, mar: 100, apr: 110, may: 51})
        steady = customer({feb: 100, mar: 100, apr: 100, may: 100})
        to_zero = customer({feb: 10, mar: 0, apr: 0, may: 0}, metric="api_calls")
        missing_month = customer({mar: 100, apr: 100, may: 10})
        never_used = customer({feb: 0, mar: 0, apr: 0, may: 0})
        not_reported = customer({feb: 100, mar: 100, apr: 100})
        # The current month is not over: a low June says nothing yet.
        june_low = customer({mar: 100, apr: 100, may: 100, jun: 1})
        cancelled = customer({feb: 100, mar: 100, apr: 100, may: 0}, status="cancelled")
        # Two metrics: one of them halved is enough.
        two = add_customer(c)
        sub = add_subscription(c, two, plan)
        for month in (feb, mar, apr):
            add_usage(c, sub, month, 10, "seats")
            add_usage(c, sub, month, 1000, "api_calls")
        add_usage(c, sub, may, 10, "seats")
        add_usage(c, sub, may, 400, "api_calls")
    recompute(engine)
    at_risk = members(engine, "at_risk")
    assert at_risk == {halved, to_zero, two}
    assert not at_risk & {
        not_quite,
        steady,
        missing_month,
        never_used,
        not_reported,
        june_low,
        cancelled,
    }


def test_high_value_is_the_top_ten_percent_twenty_customers_two(engine: Engine) -> None:
    with engine.begin() as c:
        ids = [add_customer(c, ltv_minor=100 * n) for n in range(1, 21)]
    report = SegmentService(engine).recompute_all(NOW)
    assert report.counts["high_value"] == 2
    assert report.high_value_threshold_minor == 1900
    assert members(engine, "high_value") == {ids[18], ids[19]}
    recompute(engine)


def test_high_value_ties_at_the_threshold_are_all_in(engine: Engine) -> None:
    # 20 customers: the 2nd highest LTV is the threshold; three share it, all are in.
    with engine.begin() as c:
        low = [add_customer(c, ltv_minor=100 * n) for n in range(1, 17)]
        tied = [add_customer(c, ltv_minor=5000) for _ in range(3)]
        top = add_customer(c, ltv_minor=9000)
    recompute(engine)
    assert members(engine, "high_value") == {top, *tied}
    assert not members(engine, "high_value") & set(low)


def test_high_value_needs_ten_customers_and_a_positive_ltv(engine: Engine) -> None:
    with engine.begin() as c:
        few = [add_customer(c, ltv_minor=1000 * n) for n in range(1, 10)]
    recompute(engine)
    assert members(engine, "high_value") == set()  # 9 customers: the top 10% is nobody
    with engine.begin() as c:
        zeros = [add_customer(c, ltv_minor=0) for _ in range(11)]
    recompute(engine)  # 20 customers, rank 2: the two largest
    assert members(engine, "high_value") == {few[-1], few[-2]}
    with engine.begin() as c:
        c.execute(sa.update(_customer).values(ltv_minor=0))
    recompute(engine)  # everyone at zero: nobody is high-value
    assert members(engine, "high_value") == set()
    assert len(zeros) == 11


def test_churned_is_cancelled_in_the_last_90_days(engine: Engine) -> None:
    with engine.begin() as c:
        plan = add_plan(c)

        def customer(*subs: dict[str, Any]) -> int:
            customer_id = add_customer(c, lifecycle_status="churned")
            for values in subs:
                add_subscription(c, customer_id, plan, **values)
            return customer_id

        day_89 = customer({"status": "cancelled", "ended_at": days_ago(89)})
        day_91 = customer({"status": "cancelled", "ended_at": days_ago(91)})
        # Cancelled at once by an agent: ended_at set; without it, cancelled_at counts.
        no_end = customer({"status": "cancelled", "cancelled_at": days_ago(10)})
        still_subscribed = customer(
            {"status": "cancelled", "ended_at": days_ago(10)}, {"status": "active"}
        )
        expired = customer({"status": "expired", "ended_at": days_ago(10)})
        set_to_cancel = customer({"cancel_at_period_end": True, "cancelled_at": days_ago(5)})
    recompute(engine)
    assert members(engine, "churned") == {day_89, no_end}
    assert not members(engine, "churned") & {day_91, still_subscribed, expired, set_to_cancel}


def test_business(engine: Engine) -> None:
    with engine.begin() as c:
        business = add_customer(c, kind="business", company_name="Acme Ltd")
        person = add_customer(c)
    service = recompute(engine)
    assert members(engine, "business") == {business}
    assert service.segments_of(person) == ()


def test_a_customer_in_several_segments_in_display_order(engine: Engine) -> None:
    with engine.begin() as c:
        plan = add_plan(c)
        ids = [add_customer(c, ltv_minor=n) for n in range(1, 20)]
        vip = add_customer(c, kind="business", registered_at=days_ago(3), ltv_minor=99_999)
        add_subscription(c, vip, plan, cancel_at_period_end=True)
    service = recompute(engine)
    assert service.segments_of(vip) == ("new", "at_risk", "high_value", "business")
    assert service.segments_of(ids[0]) == ()
    assert list(service.counts()) == list(SEGMENTS)


# --------------------------------------------------------------- the threshold


def test_refresh_customer_moves_the_high_value_boundary(engine: Engine) -> None:
    """One customer's LTV moves the top 10% for others: refresh_customer moves them too."""
    with engine.begin() as c:
        ids = [add_customer(c, ltv_minor=100 * n) for n in range(1, 21)]
    service = SegmentService(engine)
    service.recompute_all(NOW)
    assert members(engine, "high_value") == {ids[18], ids[19]}  # 1,900 and 2,000

    def set_ltv(customer_id: int, ltv: int) -> tuple[str, ...]:
        with engine.begin() as c:
            c.execute(
                sa.update(_customer).where(_customer.c.id == customer_id).values(ltv_minor=ltv)
            )
            codes = segments.refresh_customer(c, customer_id, NOW)
        assert codes is not None
        return codes

    # Customer 5 jumps to the top: the 1,900 one drops out.
    assert set_ltv(ids[4], 5000) == ("high_value",)
    assert members(engine, "high_value") == {ids[4], ids[19]}
    assert service.counts()["high_value"] == 2
    # Under the threshold (now 2,000) and staying under it: nothing moves.
    assert set_ltv(ids[2], 1999) == ()
    assert members(engine, "high_value") == {ids[4], ids[19]}
    # A tie at the threshold joins; then the top one falls: the threshold drops to 1,999.
    assert set_ltv(ids[3], 2000) == ("high_value",)
    assert members(engine, "high_value") == {ids[3], ids[4], ids[19]}
    assert set_ltv(ids[4], 0) == ()
    assert members(engine, "high_value") == {ids[3], ids[19]}
    assert set_ltv(ids[19], 10) == ()
    assert members(engine, "high_value") == {ids[3], ids[2]}  # 2,000 and 1,999
    # And the set-based run agrees with where the refreshes got to.
    before = members(engine, "high_value")
    service.recompute_all(NOW)
    assert members(engine, "high_value") == before


def test_refresh_summary_keeps_segments_current(engine: Engine) -> None:
    """The hook: refresh_summary (every subscription or payment change) refreshes segments."""
    now = datetime.now(UTC)
    with engine.begin() as c:
        customer = add_customer(c)
    service = SegmentService(engine)
    service.recompute_all(now)
    with engine.begin() as c:
        add_payment(c, customer, status="failed", created_at=now - timedelta(days=1))
        refresh_summary(c, customer)
    assert service.segments_of(customer) == ("at_risk",)
    assert service.counts()["at_risk"] == 1


def test_nothing_is_written_before_segments_are_first_computed(engine: Engine) -> None:
    with engine.begin() as c:
        customer = add_customer(c, kind="business")
        add_payment(c, customer, status="failed", created_at=datetime.now(UTC))
        refresh_summary(c, customer)
        assert segments.refresh_customer(c, customer, NOW) is None
    service = SegmentService(engine)
    assert service.counts() == dict.fromkeys(SEGMENTS, 0)
    assert service.computed_at() is None
    assert memberships(engine) == set()


# -------------------------------------------------------------- through services


def test_counts_follow_changes_made_through_the_services(engine: Engine) -> None:
    """Real services move customers in and out; the counts follow with no recompute."""
    now = datetime.now(UTC)
    with engine.begin() as c:
        plan = add_plan(c)
        # Failed manual payment (at-risk) → marked paid: out.
        late = add_customer(c, registered_at=now - timedelta(days=400))
        late_payment = add_payment(
            c, late, provider="manual", status="failed", created_at=now - timedelta(days=2)
        )
        # Subscribed: set to cancel → at-risk; cancelled now → churned.
        leaving = add_customer(c, registered_at=now - timedelta(days=400))
        month_ago = now - timedelta(days=30)
        leaving_sub = add_subscription(
            c, leaving, plan, provider="manual", provider_id="sub_l", started_at=month_ago
        )
        quitting = add_customer(c, registered_at=now - timedelta(days=400))
        quitting_sub = add_subscription(
            c, quitting, plan, provider="manual", provider_id="sub_q", started_at=month_ago
        )
        # Ten customers: the top 10% is one. A retried payment makes `riser` the top.
        riser = add_customer(c, registered_at=now - timedelta(days=400), ltv_minor=1000)
        add_payment(c, riser, amount_minor=1000, created_at=now - timedelta(days=90))
        riser_failed = add_payment(
            c,
            riser,
            amount_minor=9000,
            status="failed",
            provider="stripe",
            provider_id="ch_1",
            created_at=now - timedelta(days=90),  # outside At-risk's 60 days
        )
        top = add_customer(c, registered_at=now - timedelta(days=400), ltv_minor=5000)
        add_payment(c, top, amount_minor=5000, created_at=now - timedelta(days=90))
        for _ in range(5):
            add_customer(c, registered_at=now - timedelta(days=400), ltv_minor=100)
    service = SegmentService(engine)
    service.recompute_all(now)
    assert service.counts() == {
        "new": 0,
        "loyal": 0,
        "at_risk": 1,
        "high_value": 1,
        "churned": 0,
        "business": 0,
    }
    assert members(engine, "at_risk") == {late}
    assert members(engine, "high_value") == {top}

    actions = AccountActions(
        engine, {"manual": OfflineProvider(), "stripe": OfflineProvider("stripe")}
    )
    actions.mark_paid(late_payment, "Bank transfer arrived", AGENT)
    assert service.counts()["at_risk"] == 0

    actions.cancel(leaving_sub, True, "Moving to a competitor", AGENT)
    assert members(engine, "at_risk") == {leaving}

    actions.cancel(quitting_sub, False, "Closing the business", AGENT)
    assert members(engine, "churned") == {quitting}
    assert service.segments_of(quitting) == ("churned",)

    actions.retry_payment(riser_failed, "Card updated", AGENT)
    assert members(engine, "high_value") == {riser}  # 1,000 + 9,000 passes 5,000
    assert service.counts()["high_value"] == 1

    # A refund lowers the LTV: `riser` falls back under `top`. RefundService updates
    # ltv_minor itself rather than through refresh_summary, so here the segments
    # follow at the customer's next refresh.
    with engine.connect() as c:
        collected = c.execute(
            sa.select(_payment.c.id).where(
                _payment.c.customer_id == riser,
                _payment.c.amount_minor == 9000,
                _payment.c.status == "succeeded",
            )
        ).scalar_one()
    refunds = RefundService(engine, {"stripe": OfflineProvider("stripe")})
    refunds.refund(collected, 9000, "Charged after cancelling", AGENT)
    assert service.refresh_customer(riser, now) == ()
    assert members(engine, "high_value") == {top}
    # What the services did, a full run finds too.
    before = service.counts()
    assert service.recompute_all(now).counts == before


# ------------------------------------------------------------------ recompute_all


def test_a_second_run_writes_nothing_and_time_moves_new_out(engine: Engine) -> None:
    with engine.begin() as c:
        newcomer = add_customer(c, registered_at=days_ago(29))
        add_customer(c, kind="business")
    service = SegmentService(engine)
    first = service.recompute_all(NOW)
    assert (first.added, first.removed) == (2, 0)
    rows = memberships(engine)
    second = service.recompute_all(NOW + timedelta(hours=1))
    assert (second.added, second.removed) == (0, 0)
    assert memberships(engine) == rows  # computed_at: when the customer entered
    later = service.recompute_all(NOW + timedelta(days=2))
    assert (later.added, later.removed) == (0, 1)
    assert newcomer not in members(engine, "new")
    assert service.computed_at() == NOW + timedelta(days=2)


def test_recompute_all_is_all_or_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with engine.begin() as c:
        newcomer = add_customer(c, registered_at=days_ago(29))
        add_customer(c, kind="business")
    service = SegmentService(engine)
    service.recompute_all(NOW)
    rows = memberships(engine)
    with engine.begin() as c:
        c.execute(sa.update(_customer).values(kind="business"))

    def broken(*_: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(segments, "_insert_members", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        service.recompute_all(NOW + timedelta(days=5))  # would remove New, add Business
    assert memberships(engine) == rows
    assert service.computed_at() == NOW
    assert newcomer in members(engine, "new")


def test_segment_rows_made_elsewhere_are_taken_over(engine: Engine) -> None:
    """A segment row without computed rules (a test factory's, say) is updated in place;
    refresh_customer waits for the first full run."""
    with engine.begin() as c:
        customer = add_customer(c)
        other = add_customer(c, kind="business")
        add_segment_member(c, customer, "business")
        assert segments.refresh_customer(c, other, NOW) is None
    SegmentService(engine).recompute_all(NOW)
    assert members(engine, "business") == {other}
    with engine.connect() as c:
        names = {row.code: row.name for row in c.execute(sa.text("SELECT code, name FROM segment"))}
    assert names == SEGMENTS


def test_recompute_if_stale(engine: Engine) -> None:
    with engine.begin() as c:
        add_customer(c, registered_at=days_ago(10))
    service = SegmentService(engine)
    assert service.recompute_if_stale(timedelta(hours=1), NOW) is not None
    assert service.recompute_if_stale(timedelta(hours=1), NOW + timedelta(minutes=30)) is None
    assert service.recompute_if_stale(timedelta(hours=1), NOW + timedelta(hours=2)) is not None
    # Other thresholds than those stored: run again at once.
    other = SegmentService(engine, SegmentRules(new_days=5))
    report = other.recompute_if_stale(timedelta(hours=1), NOW + timedelta(hours=2, minutes=1))
    assert report is not None and report.counts["new"] == 0


# ---------------------------------------------------------------------- settings


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_thresholds_come_from_settings_and_change_the_result(
    engine: Engine, tmp_path: Path
) -> None:
    assert SegmentRules.from_settings(Settings()) == SegmentRules()  # same defaults
    path = _config(
        tmp_path,
        "[segments]\nnew_days = 60\nhigh_value_percent = 20\nchurned_days = 30\n",
    )
    settings = load_settings(environ={"CRM_SEGMENTS_LOYAL_MONTHS": "12"}, config_path=path)
    rules = SegmentRules.from_settings(settings)
    assert rules == SegmentRules(
        new_days=60, loyal_months=12, high_value_percent=20, churned_days=30
    )

    with engine.begin() as c:
        plan = add_plan(c)
        day_45 = add_customer(c, registered_at=days_ago(45))
        ids = [add_customer(c, ltv_minor=100 * n) for n in range(1, 10)]
        gone = add_customer(c)
        add_subscription(c, gone, plan, status="cancelled", ended_at=days_ago(45))
    default = SegmentService(engine).recompute_all(NOW)
    assert default.counts["new"] == 0
    assert default.counts["high_value"] == 1  # 11 customers, 10%: one
    assert default.counts["churned"] == 1
    configured = SegmentService(engine, rules).recompute_all(NOW)
    assert members(engine, "new") == {day_45}
    assert members(engine, "high_value") == {ids[-1], ids[-2]}  # 20% of 11: two
    assert configured.counts["churned"] == 0
    # refresh_customer works by the thresholds the last run stored (60 days here).
    with engine.begin() as c:
        fresh = add_customer(c, registered_at=days_ago(50))
        assert segments.refresh_customer(c, fresh, NOW) == ("new",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[segments]\nnew_days = 0\n", r"segments\.new_days = 0 is out of range \(1–3650 days\)"),
        ("[segments]\nhigh_value_percent = 101\n", r"segments\.high_value_percent = 101"),
        ("[segments]\nat_risk_usage_months = 0\n", r"segments\.at_risk_usage_months = 0"),
        (
            '[segments]\nloyal_months = "six"\n',
            r"segments\.loyal_months = 'six' is not a valid int",
        ),
        ("[segments]\nnew_weeks = 4\n", "unknown setting 'segments.new_weeks'"),
        ("segments = 30\n", "must be a table"),
    ],
)
def test_bad_segment_settings_name_the_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as refused:
        load_settings(environ={}, config_path=path)
    assert str(refused.value).startswith(str(path))


def test_a_bad_segment_variable_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^CRM_SEGMENTS_CHURNED_DAYS: segments\.churned_days"):
        load_settings(
            environ={"CRM_SEGMENTS_CHURNED_DAYS": "-1"}, config_path=tmp_path / "absent.toml"
        )


# ----------------------------------------------------------------------- filters


def test_segment_filter_is_a_where_clause_for_the_directory(engine: Engine) -> None:
    with engine.begin() as c:
        a = add_customer(c, name="Ann", kind="business")
        add_customer(c, name="Bob")
        b = add_customer(c, name="Cid", kind="business")
    SegmentService(engine).recompute_all(NOW)
    # The shape the directory uses: its own lightweight customer table.
    customer = sa.table("customer", sa.column("id"), sa.column("name"))
    with engine.connect() as c:
        found = c.execute(
            sa.select(customer.c.id).where(segment_filter("business", customer.c.id))
        ).scalars()
        assert set(found) == {a, b}
        found = c.execute(sa.select(_customer.c.id).where(segment_filter("new"))).scalars()
        assert list(found) == []
    with pytest.raises(UnknownSegment, match="no segment 'vip'"):
        segment_filter("vip")
    # And through the directory's own named sets (services/membership.py).
    rows = DirectoryService(engine).window(
        DirectoryQuery(filters=DirectoryFilters(sets=("segment:business",))), AGENT, limit=10
    )
    assert {row.id for row in rows} == {a, b}


def test_segment_codes_and_names_match_the_directory(engine: Engine) -> None:
    assert membership.SEGMENT_NAMES == SEGMENTS


def test_a_change_committed_during_a_run_is_kept(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another agent's change lands while recompute_all computes: it is not undone. On
    SQLite the rules are computed without the write lock and again under it when
    another connection committed meanwhile; on PostgreSQL the run reads one snapshot
    and leaves alone what a newer transaction wrote."""
    with engine.begin() as c:
        person = add_customer(c)
        business = add_customer(c, kind="business")
    service = SegmentService(engine)
    service.recompute_all(NOW)
    fill = SegmentService._fill
    calls: list[int] = []

    def fill_then_someone_writes(self: SegmentService, connection: Any, now: datetime) -> Any:
        answer = fill(self, connection, now)
        calls.append(1)
        if len(calls) == 1:  # not blocked by the run: it holds no write lock yet
            with engine.begin() as other:
                other.execute(
                    sa.update(_customer).where(_customer.c.id == person).values(kind="business")
                )
                segments.refresh_customer(other, person, NOW)
        return answer

    monkeypatch.setattr(SegmentService, "_fill", fill_then_someone_writes)
    report = service.recompute_all(NOW)
    assert members(engine, "business") == {person, business}
    if engine.dialect.name == "sqlite":
        assert len(calls) == 2  # computed again under the lock
        assert report.counts["business"] == 2


def test_refresh_customer_removes_what_no_longer_holds(engine: Engine) -> None:
    with engine.begin() as c:
        gone = add_customer(c, kind="business")
    SegmentService(engine).recompute_all(NOW)
    with engine.begin() as c:
        c.execute(sa.delete(_member).where(_member.c.customer_id == gone))
        add_segment_member(c, gone, "business")
        c.execute(sa.update(_customer).where(_customer.c.id == gone).values(kind="individual"))
        assert segments.refresh_customer(c, gone, NOW) == ()
        assert segments.refresh_customer(c, gone + 1000, NOW) == ()
    assert memberships(engine) == set()
