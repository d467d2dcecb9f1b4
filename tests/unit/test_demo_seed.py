"""The demo seeder on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui import cli
from crm_tui.models import tables as t
from crm_tui.models.enums import ActorType, PaymentStatus, SubscriptionStatus
from crm_tui.services import demo_seed
from crm_tui.services.actor import Actor
from crm_tui.services.customer_summary import PaymentFacts, SubscriptionFacts, summarise
from crm_tui.services.database import create_db_engine
from crm_tui.services.demo_seed import DEFAULT_AS_OF, SHOWCASE, SeedReport, seed_demo
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from tests.factories import add_customer, add_subscription

SEEDED = 300  # enough for every status of every kind to turn up

customer = t.Customer.__table__  # type: ignore[attr-defined]
subscription = t.Subscription.__table__  # type: ignore[attr-defined]
payment = t.Payment.__table__  # type: ignore[attr-defined]
refund = t.Refund.__table__  # type: ignore[attr-defined]
plan = t.Plan.__table__  # type: ignore[attr-defined]
event = t.ActivityEvent.__table__  # type: ignore[attr-defined]
state_change = t.AccountStateChange.__table__  # type: ignore[attr-defined]
invoice = t.Invoice.__table__  # type: ignore[attr-defined]
order = t.Order.__table__  # type: ignore[attr-defined]
external_id = t.ExternalId.__table__  # type: ignore[attr-defined]


@pytest.fixture
def seeded(engine: Engine) -> tuple[Engine, SeedReport]:
    return engine, seed_demo(engine, SEEDED, seed=7)


def _rows(engine: Engine, statement: sa.Select[Any]) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(statement))


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _fingerprint(engine: Engine) -> str:
    """A hash of what a seed wrote that matters to a person looking at it."""
    digest = hashlib.sha256()
    for table, columns in (
        (customer, ("id", "kind", "name", "email", "phone", "company_name", "vat_id",
                    "payment_terms", "storefront", "country", "registered_at", "account_state",
                    "lifecycle_status", "current_plan", "has_active_subscription", "currency",
                    "mrr_minor", "ltv_minor")),
        (subscription, ("id", "customer_id", "status", "started_at", "amount_minor",
                        "provider_id", "asset_serial")),
        (payment, ("id", "customer_id", "status", "amount_minor", "refunded_minor",
                   "provider_id", "created_at")),
        (event, ("customer_id", "occurred_at", "actor_type", "summary")),
    ):  # fmt: skip
        selected = [table.c[name] for name in columns]
        order_by = [table.c.id] if "id" in table.c else selected
        for row in _rows(engine, sa.select(*selected).order_by(*order_by)):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def _fresh_sqlite(template: Path, folder: Path, name: str) -> Engine:
    path = folder / name
    shutil.copyfile(template, path)
    return create_db_engine(f"sqlite:///{path}")


# ------------------------------------------------------------------- the report


def test_the_report_counts_the_rows_written(seeded: tuple[Engine, SeedReport]) -> None:
    engine, report = seeded
    assert report.customers == _count(engine, customer) == SEEDED
    assert report.subscriptions == _count(engine, subscription)
    assert report.payments == _count(engine, payment)
    assert report.refunds == _count(engine, refund)
    assert report.activity_events == _count(engine, event)
    assert report.notes == _count(engine, t.Note.__table__)  # type: ignore[attr-defined]
    assert json.loads(json.dumps(report.as_dict()))["customers"] == SEEDED


# ---------------------------------------------------------------- determinism


def test_the_same_seed_writes_the_same_data_and_another_seed_other_data(
    engine: Engine, sqlite_template: Path, tmp_path: Path
) -> None:
    seed_demo(engine, 120, seed=7)
    again = _fresh_sqlite(sqlite_template, tmp_path, "again.sqlite3")
    other = _fresh_sqlite(sqlite_template, tmp_path, "other.sqlite3")
    seed_demo(again, 120, seed=7)
    seed_demo(other, 120, seed=8)
    # On PostgreSQL this compares with SQLite: the engines store the same data.
    assert _fingerprint(engine) == _fingerprint(again)
    assert _fingerprint(engine) != _fingerprint(other)
    again.dispose()
    other.dispose()


def test_as_of_is_fixed_by_default_and_moves_the_data(
    engine: Engine, sqlite_template: Path, tmp_path: Path
) -> None:
    seed_demo(engine, 60)
    earlier = _fresh_sqlite(sqlite_template, tmp_path, "earlier.sqlite3")
    seed_demo(earlier, 60, as_of=date(2025, 1, 1))
    newest = sa.select(sa.func.max(payment.c.created_at))
    assert DEFAULT_AS_OF - _rows(engine, newest)[0][0] < (
        DEFAULT_AS_OF - datetime(2026, 9, 1, tzinfo=UTC)
    )
    assert _rows(earlier, newest)[0][0] <= datetime(2025, 1, 1, tzinfo=UTC)
    earlier.dispose()


# ------------------------------------------------------------------ showcase


def test_showcase_1_has_a_lifetime_value_of_exactly_2142_dollars(
    seeded: tuple[Engine, SeedReport],
) -> None:
    engine, _ = seeded
    row = _rows(engine, sa.select(customer).where(customer.c.id == SHOWCASE["loyal_upgrader"]))[0]
    assert (row.ltv_minor, row.currency, row.kind) == (214200, "USD", "individual")
    succeeded = _rows(
        engine,
        sa.select(payment.c.amount_minor, payment.c.order_id).where(
            payment.c.customer_id == row.id, payment.c.status == "succeeded"
        ),
    )
    amounts = sorted(amount for amount, _ in succeeded)
    assert amounts == [8900] * 12 + [12900] * 6 + [30000]
    assert [order_id for amount, order_id in succeeded if amount == 30000] != [None]
    assert row.current_plan == "Premium"
    assert row.mrr_minor == 12900


def test_showcase_2_is_a_business_on_net_30_with_an_active_subscription(
    seeded: tuple[Engine, SeedReport],
) -> None:
    engine, _ = seeded
    row = _rows(engine, sa.select(customer).where(customer.c.id == SHOWCASE["business_account"]))[0]
    assert row.kind == "business"
    assert row.company_name and row.company_reg_no and row.billing_contact
    assert row.vat_id.startswith("DE")
    assert row.payment_terms == "net30"
    assert row.billing_group
    assert row.has_active_subscription
    assert _rows(engine, sa.select(invoice.c.status).where(invoice.c.customer_id == row.id))
    hardware = _rows(
        engine,
        sa.select(subscription.c.asset_serial, subscription.c.asset_cost_minor).where(
            subscription.c.customer_id == row.id, subscription.c.asset_serial != ""
        ),
    )
    assert hardware and hardware[0].asset_cost_minor > 0


def test_showcase_3_is_blocked_with_a_history_of_who_when_why(
    seeded: tuple[Engine, SeedReport],
) -> None:
    engine, _ = seeded
    blocked = SHOWCASE["blocked_account"]
    row = _rows(engine, sa.select(customer).where(customer.c.id == blocked))[0]
    assert row.account_state == "blocked"
    history = _rows(
        engine,
        sa.select(state_change)
        .where(state_change.c.customer_id == blocked)
        .order_by(state_change.c.changed_at),
    )
    assert len(history) >= 2
    assert history[-1].to_state == "blocked"
    assert all(h.agent_id and h.reason and h.changed_at.tzinfo for h in history)
    # Each change starts where the one before ended.
    assert [h.from_state for h in history[1:]] == [h.to_state for h in history[:-1]]


def test_showcase_4_has_a_partially_refunded_payment_and_its_refund(
    seeded: tuple[Engine, SeedReport],
) -> None:
    engine, _ = seeded
    partial = _rows(
        engine,
        sa.select(payment).where(
            payment.c.customer_id == SHOWCASE["partial_refund"],
            payment.c.status == "partially_refunded",
        ),
    )
    assert len(partial) == 1
    assert 0 < partial[0].refunded_minor < partial[0].amount_minor
    refunds = _rows(engine, sa.select(refund).where(refund.c.payment_id == partial[0].id))
    assert [r.amount_minor for r in refunds] == [partial[0].refunded_minor]


def test_every_showcase_customer_has_events_by_an_agent_the_system_and_themselves(
    seeded: tuple[Engine, SeedReport],
) -> None:
    engine, _ = seeded
    actors: dict[int, set[str]] = defaultdict(set)
    for customer_id, actor_type, agent_id in _rows(
        engine,
        sa.select(event.c.customer_id, event.c.actor_type, event.c.agent_id).where(
            event.c.customer_id.in_(SHOWCASE.values())
        ),
    ):
        actors[customer_id].add(actor_type)
        assert (agent_id is not None) == (actor_type == "agent")
    assert {i: actors[i] for i in SHOWCASE.values()} == {
        i: {a.value for a in ActorType} for i in SHOWCASE.values()
    }


# ------------------------------------------------------------------- variety


def test_every_status_and_actor_turns_up(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded

    def distinct(column: sa.Column[Any]) -> set[Any]:
        return {value for (value,) in _rows(engine, sa.select(column).distinct())}

    assert distinct(subscription.c.status) == {s.value for s in SubscriptionStatus}
    assert distinct(payment.c.status) == {s.value for s in PaymentStatus}
    assert distinct(event.c.actor_type) == {a.value for a in ActorType}
    assert distinct(customer.c.kind) == {"individual", "business"}
    assert distinct(customer.c.account_state) == {"active", "deactivated", "blocked"}
    assert distinct(plan.c.currency) == {"USD", "EUR", "GBP"}
    assert len(distinct(customer.c.storefront)) >= 4
    assert len(distinct(customer.c.country)) >= 6


def test_provider_ids_look_like_stripe_and_paypal_ones(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    subscriptions = [v for (v,) in _rows(engine, sa.select(subscription.c.provider_id))]
    payments = [v for (v,) in _rows(engine, sa.select(payment.c.provider_id))]
    customers = [v for (v,) in _rows(engine, sa.select(external_id.c.external_id))]
    assert any(re.fullmatch(r"sub_1[0-9A-Za-z]{23}", v) for v in subscriptions)
    assert any(re.fullmatch(r"I-[0-9A-Z]{12}", v) for v in subscriptions)
    assert any(re.fullmatch(r"pi_3[0-9A-Za-z]{23}", v) for v in payments)
    assert any(re.fullmatch(r"ch_3[0-9A-Za-z]{23}", v) for v in payments)
    assert any(re.fullmatch(r"[0-9A-Z]{17}", v) for v in payments)  # PayPal capture ids
    assert any(re.fullmatch(r"cus_[0-9A-Za-z]{14}", v) for v in customers)
    assert any(re.fullmatch(r"[0-9A-Z]{13}", v) for v in customers)  # PayPal payer ids


def test_contact_details_are_plausible_and_plain_text(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    rows = _rows(engine, sa.select(customer.c.name, customer.c.email, customer.c.phone))
    emails = [email for _, email, _ in rows]
    assert len(set(emails)) == len(emails)
    assert all(email == email.lower() and "@" in email for email in emails)
    assert all(re.fullmatch(r"\+\d{8,15}", phone) for _, _, phone in rows if phone)
    names = [name for name, _, _ in rows]
    assert any(not name.isascii() for name in names)
    for name in names:  # never markup, never a control or formatting character
        assert "[" not in name
        assert all(unicodedata.category(char) not in ("Cc", "Cf") for char in name)


def test_times_are_utc_and_not_after_as_of_where_they_are_history(
    seeded: tuple[Engine, SeedReport],
) -> None:
    engine, _ = seeded
    for column in (customer.c.registered_at, payment.c.created_at, event.c.occurred_at):
        newest = _rows(engine, sa.select(sa.func.max(column)))[0][0]
        oldest = _rows(engine, sa.select(sa.func.min(column)))[0][0]
        assert newest.tzinfo is not None
        assert datetime(2019, 1, 1, tzinfo=UTC) < oldest <= newest <= DEFAULT_AS_OF


def test_summary_columns_agree_with_the_subscriptions_and_payments(
    seeded: tuple[Engine, SeedReport],
) -> None:
    engine, _ = seeded
    subscriptions: dict[int, list[SubscriptionFacts]] = defaultdict(list)
    for row in _rows(
        engine,
        sa.select(subscription, plan.c.name.label("plan_name")).join(
            plan, plan.c.id == subscription.c.plan_id
        ),
    ):
        subscriptions[row.customer_id].append(
            SubscriptionFacts(
                row.status, row.plan_name, row.amount_minor, row.cycle, row.started_at
            )
        )
    payments: dict[int, list[PaymentFacts]] = defaultdict(list)
    for row in _rows(engine, sa.select(payment)):
        payments[row.customer_id].append(
            PaymentFacts(row.status, row.amount_minor, row.refunded_minor)
        )
    for row in _rows(engine, sa.select(customer)):
        expected = summarise(subscriptions[row.id], payments[row.id])
        assert (
            row.lifecycle_status,
            row.current_plan,
            row.has_active_subscription,
            row.mrr_minor,
            row.ltv_minor,
        ) == (
            expected.lifecycle_status,
            expected.current_plan,
            expected.has_active_subscription,
            expected.mrr_minor,
            expected.ltv_minor,
        ), f"customer {row.id}"


def test_refunded_amounts_match_their_refund_rows(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    refunded = dict(
        _rows(
            engine,
            sa.select(refund.c.payment_id, sa.func.sum(refund.c.amount_minor)).group_by(
                refund.c.payment_id
            ),
        )
    )
    for row in _rows(engine, sa.select(payment)):
        assert row.refunded_minor == refunded.get(row.id, 0), f"payment {row.id}"
        if row.status == "refunded":
            assert row.refunded_minor == row.amount_minor


# -------------------------------------------------------------------- search


def test_search_finds_a_seeded_customer_by_email_and_provider_ids(
    seeded: tuple[Engine, SeedReport],
) -> None:
    engine, _ = seeded
    directory = DirectoryService(engine)
    system = Actor.system()

    def found(text: str) -> list[int]:
        query = DirectoryQuery(search=text)
        assert directory.count(query, system).value >= 1
        return [row.id for row in directory.window(query, system, limit=50)]

    email = _rows(engine, sa.select(customer.c.email).where(customer.c.id == 150))[0][0]
    assert found(email[2:-4]) == [150]  # a substring from the middle
    sub_customer, provider_id = _rows(
        engine,
        sa.select(subscription.c.customer_id, subscription.c.provider_id)
        .where(subscription.c.provider_id.like("sub_%"))
        .order_by(subscription.c.id.desc())
        .limit(1),
    )[0]
    assert found(provider_id) == [sub_customer]
    owner, payer_id = _rows(
        engine,
        sa.select(external_id.c.customer_id, external_id.c.external_id)
        .where(external_id.c.provider == "paypal")
        .limit(1),
    )[0]
    assert owner in found(payer_id)


# ------------------------------------------------------------------- adding


def test_seeding_twice_adds_customers_without_colliding_ids(engine: Engine) -> None:
    first = seed_demo(engine, 40)
    second = seed_demo(engine, 40)
    assert first.customers == second.customers == 40
    ids = [i for (i,) in _rows(engine, sa.select(customer.c.id).order_by(customer.c.id))]
    assert ids == list(range(1, 81))
    emails = [e for (e,) in _rows(engine, sa.select(customer.c.email))]
    assert len(set(emails)) == 80
    # Only an empty database gets the showcase customers.
    names = dict(_rows(engine, sa.select(customer.c.id, customer.c.name)))
    assert names[1] == "Zoë Hartmann" and "Zoë Hartmann" not in {names[i] for i in range(41, 81)}
    # The database's own ids carry on after the seeder's (PostgreSQL sequences moved).
    with engine.begin() as connection:
        new_customer = add_customer(connection, email="after.seed@example.com")
        plan_id = _rows(engine, sa.select(plan.c.id).limit(1))[0][0]
        new_subscription = add_subscription(connection, new_customer, plan_id)
    assert new_customer == 81
    assert new_subscription > max(
        i for (i,) in _rows(engine, sa.select(subscription.c.id)) if i != new_subscription
    )


def test_progress_is_reported_after_each_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_seed, "BATCH_SIZE", 40)
    calls: list[tuple[int, int]] = []
    report = seed_demo(engine, 100, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(40, 100), (80, 100), (100, 100)]
    assert report.customers == _count(engine, customer) == 100


# --------------------------------------------------------- SQLite's fast paths


def _sqlite_schema(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as connection:
        return set(
            connection.exec_driver_sql(
                "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger')"
            ).all()
        )


def _sqlite_dump(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        tables = [
            name
            for (name,) in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'customer_fts_%'"
                " ORDER BY name"
            )
        ]
        return [
            (table, sorted(connection.exec_driver_sql(f"SELECT * FROM {table}").all(), key=repr))
            for table in tables
        ]


def test_the_worker_and_the_bulk_load_write_what_the_plain_path_writes(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process and a bulk load (no indexes, no triggers) change nothing in the
    data: the same rows, the same search documents, the same indexes and triggers."""
    monkeypatch.setattr(demo_seed, "BATCH_SIZE", 100)
    plain = _fresh_sqlite(sqlite_template, tmp_path, "plain.sqlite3")
    fast = _fresh_sqlite(sqlite_template, tmp_path, "fast.sqlite3")
    schema = _sqlite_schema(plain)

    monkeypatch.setattr(demo_seed, "_use_worker", lambda dialect, customers: False)
    seed_demo(plain, 250, seed=3)
    monkeypatch.undo()
    monkeypatch.setattr(demo_seed, "BATCH_SIZE", 100)
    monkeypatch.setattr(demo_seed, "BULK_LOAD_THRESHOLD", 1)
    seed_demo(fast, 250, seed=3)

    assert _sqlite_dump(fast) == _sqlite_dump(plain)
    assert _sqlite_schema(fast) == _sqlite_schema(plain) == schema
    with plain.connect() as a, fast.connect() as b:
        assert b.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        docs = "SELECT rowid, doc FROM customer_fts ORDER BY rowid"
        assert b.exec_driver_sql(docs).all() == a.exec_driver_sql(docs).all()
        assert len(a.exec_driver_sql(docs).all()) == 250
    plain.dispose()
    fast.dispose()


# ----------------------------------------------------------------- command line


def test_the_command_seeds_and_prints_the_report_as_json(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["demo", "seed", "--customers", "50", "--database-url", sqlite_url])
    out = capsys.readouterr()
    assert status == 0
    report = json.loads(out.out)
    assert report["customers"] == 50
    assert set(report) == {
        "customers", "subscriptions", "payments", "refunds", "activity_events", "notes",
        "seconds",
    }  # fmt: skip
    assert "50/50" in out.err
