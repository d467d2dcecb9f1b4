"""Profile budget of DESIGN.md: open a customer with 1,000 payments and 5,000 events ≤ 150 ms.

    .venv/bin/python benchmarks/profile.py            # the figures, as a table
    .venv/bin/python benchmarks/profile.py --json     # machine-readable results

The database (benchmarks/.data/profile-heavy.sqlite3) is made the first time and
reused afterwards: a demo of 1,000 customers (the demo seeder), for context, and
one heavy customer written beside them with SQLAlchemy Core: exactly 1,000 payments
in every status (the refunded ones with their refund rows, the invoiced ones with
their invoices), 5,000 activity events of every kind by agents, the system and the
customer (two in five with details), five subscriptions, notes, addresses, tags.

What is measured:

- service read: `ProfileService.profile` of the heavy customer, in this process,
  after one warm-up (20 runs, p50 / p95); beside it, what building the Payments
  and Activity records and the Overview from that profile costs;
- open: in a fresh process running the real `CrmApp` headless at 160x50, once the
  directory shows customers, `app.open_customer(id)` (what `enter` calls) is timed
  to the first frame that shows the customer's name in the title bar and the
  Overview's "Lifetime value" line; `escape` and open again, 10 times (p50 / p95).
  The first open of the process also imports the profile's modules: it is shown
  on its own line as well. The others are split into mounting the screen, the
  read of the Overview (`ProfileService.overview`, in its thread worker), the
  hand-over to the event loop, filling the tabs (`show_overview`) and drawing;
  then the time until the Payments and Activity tabs are filled (read and built
  in the background after that first frame);
- Activity tab: `4`, then `j` ×200 and `pagedown` ×50, each timed to the first
  frame showing the move; `enter` (expand, then collapse an event) ×20; and the
  tab keys `1`–`5` three times, half a second apart (Textual animates the tab
  underline for ~0.4 s), each to the first frame showing the tab's content;
- resident memory of the app process after all of the above (peak);
- Python's full (generation 2) garbage collections in the app process: how many,
  how long, and which of the samples above had one inside. They stop every
  thread, and their length grows with the objects the process keeps.

Frames and keys are those of benchmarks/directory.py (`FrameProbe`, `Driver`):
a frame is a screen update encoded to terminal sequences, keys go in through the
driver, and the list keys are pressed 50 ms apart so that Textual's 60 fps pacing
is not what is measured. DESIGN.md states the open, cursor and page-down budgets
without a percentile: the p50 is judged against them, the p95 is shown beside.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import math
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a file, this directory comes first on sys.path, where this script would stand
# in for the standard library's `profile` (cProfile imports it): the checkout instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.directory import (  # noqa: E402
    DATA_DIR,
    KEY_REPEAT,
    SIZE,
    WAIT,
    Driver,
    FrameProbe,
    emit,
    log,
    median,
    memory,
    percentile,
    screen_text,
    sqlite_url,
    warm_page_cache,
)
from benchmarks.directory import run_child as spawn_child  # noqa: E402

DATABASE = DATA_DIR / "profile-heavy.sqlite3"
DEMO_CUSTOMERS = 1_000
PAYMENTS = 1_000
EVENTS = 5_000
NOTES = 25
HEAVY_NAME = "Ingrid Longhistory"
HEAVY_EMAIL = "ingrid@longhistory-logistics.example"

SERVICE_RUNS = 20
OPENS = 10
CURSOR_PRESSES = 200
PAGE_PRESSES = 50
EXPANDS = 20  # enter presses: expand and collapse, alternately
TAB_ROUNDS = 3  # 1–5, three times
TAB_SPACING = 0.5  # seconds between tab keys: Textual animates the tab underline ~0.4 s

# Budgets of DESIGN.md by metric, in the metric's unit (ms or MB).
BUDGETS: dict[str, float] = {
    "open_p50": 150.0,
    "cursor_p50": 5.0,
    "page_down_p50": 20.0,
    "rss_mb": 150.0,
}

# What each tab shows and no other does: its frame has come when this is on screen.
TAB_MARKS = {
    "overview": "Lifetime value",
    "subscriptions": "Renews / next payment",
    "payments": "Payments: ",
    "activity": "Events: ",
    "notes": "Notes: ",
}


# ----------------------------------------------------------------------- the data


def heavy_customer(path: Path) -> dict[str, Any] | None:
    """The heavy customer of `path` and its row counts, if the file holds them."""
    if not path.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT id, name FROM customer WHERE email = ?", (HEAVY_EMAIL,))
            found = row.fetchone()
            if found is None:
                return None

            def count(table: str) -> int:
                query = f"SELECT count(*) FROM {table} WHERE customer_id = ?"
                return int(db.execute(query, (found[0],)).fetchone()[0])

            return {
                "id": found[0],
                "name": found[1],
                "customers": int(db.execute("SELECT count(*) FROM customer").fetchone()[0]),
                "payments": count("payment"),
                "activity_events": count("activity_event"),
            }
    except sqlite3.Error:
        return None


def ensure_database(path: Path) -> dict[str, Any]:
    """Reuse `path` if it holds the heavy customer as made here, else make it again."""
    sidecar = path.with_suffix(".json")
    found = heavy_customer(path)
    if found and found["payments"] == PAYMENTS and found["activity_events"] == EVENTS:
        recorded: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            recorded = json.loads(sidecar.read_text())
        return {**recorded, **found, "reused": True}
    for stale in (*(Path(f"{path}{s}") for s in ("", "-wal", "-shm", "-journal")), sidecar):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)

    from crm_tui.services.database import create_db_engine, upgrade
    from crm_tui.services.demo_seed import seed_demo

    log(f"making {path}: {DEMO_CUSTOMERS:,} demo customers and one heavy customer …")
    engine = create_db_engine(sqlite_url(path))
    started = time.perf_counter()
    upgrade(engine)
    seed_demo(engine, DEMO_CUSTOMERS, seed=1)
    demo = time.perf_counter() - started
    heavy_id = add_heavy_customer(engine)
    wall = time.perf_counter() - started
    engine.dispose()
    recorded = {
        "seed_demo_s": demo,
        "seed_heavy_s": wall - demo,
        "seeded_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    sidecar.write_text(json.dumps(recorded, indent=2) + "\n")
    found = heavy_customer(path) or {}
    if found.get("id") != heavy_id:
        raise RuntimeError(f"{path}: the heavy customer #{heavy_id} cannot be read back")
    log(f"  made in {wall:.1f} s ({demo:.1f} s the demo)")
    return {**recorded, **found, "reused": False}


def add_heavy_customer(engine: Any) -> int:
    """One business customer with a long history, written in one transaction with
    SQLAlchemy Core (executemany); deterministic. Returns the customer's id."""
    import sqlalchemy as sa

    from crm_tui.models.enums import ActivityKind, ActorType, NoteType, PaymentStatus
    from crm_tui.models.tables import SQLModel
    from crm_tui.services.customer_summary import PaymentFacts, SubscriptionFacts, summarise
    from crm_tui.services.demo_seed import DEFAULT_AS_OF

    tables = SQLModel.metadata.tables
    rng = random.Random(20_260_101)
    now = DEFAULT_AS_OF  # the demo's "today": the heavy history ends where the demo's does
    days = 2_950
    first_day = now - timedelta(days=days)

    def moment(day: float) -> datetime:
        """`day` days after the first day, on a quarter hour, in UTC."""
        at = first_day + timedelta(days=day)
        return at.replace(minute=at.minute // 15 * 15, second=0, microsecond=0)

    def token(length: int, alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789") -> str:
        return "".join(rng.choice(alphabet) for _ in range(length))

    with engine.begin() as connection:

        def next_id(table: str) -> int:
            top = connection.execute(sa.select(sa.func.max(tables[table].c.id))).scalar()
            return int(top or 0) + 1

        def insert(table: str, rows: list[dict[str, Any]]) -> None:
            if rows:
                connection.execute(tables[table].insert(), rows)

        plans = {row.code: row for row in connection.execute(sa.select(tables["plan"]))}
        agents = list(connection.execute(sa.select(tables["agent"].c.id)).scalars())
        tag_ids = dict(
            connection.execute(sa.select(tables["tag"].c.name, tables["tag"].c.id)).all()
        )
        customer_id = next_id("customer")

        # -- subscriptions: (plan, status, first day, last day or None, method, provider)
        specs = [
            ("basic-eur-monthly", "expired", 0, 900, "card", "stripe"),
            ("pro-eur-monthly", "cancelled", 900, 2_050, "paypal", "paypal"),
            ("premium-eur-monthly", "active", 2_050, None, "card", "stripe"),
            ("home-hub-eur-monthly", "active", 1_400, None, "sepa_debit", "stripe"),
            ("team-eur-quarterly", "paused", 2_300, None, "invoice", "manual"),
        ]
        subscriptions, subscription_facts, spans = [], [], []
        for number, (code, status, start, end, method, provider) in enumerate(specs):
            plan = plans[code]
            subscription_id = next_id("subscription") + number
            hardware = plan.asset_cost_minor is not None
            subscriptions.append(
                {
                    "id": subscription_id,
                    "customer_id": customer_id,
                    "plan_id": plan.id,
                    "variant": "10 seats" if plan.kind == "bundle" else "",
                    "status": status,
                    "started_at": moment(start),
                    "trial_end": moment(start + 14),
                    "current_period_end": None if end else now + timedelta(days=12 + number),
                    "cancel_at_period_end": False,
                    "cancelled_at": moment(end - 30) if status == "cancelled" and end else None,
                    "ended_at": moment(end) if end else None,
                    "paused_until": now + timedelta(days=30) if status == "paused" else None,
                    "amount_minor": plan.amount_minor,
                    "currency": plan.currency,
                    "cycle": plan.cycle,
                    "payment_method": method,
                    "contract_end": (now + timedelta(days=200)).date() if not end else None,
                    "provider": provider,
                    "provider_id": "" if provider == "manual" else f"sub_1LH{customer_id}x{number}",
                    "asset_serial": f"HH-{token(10)}" if hardware else "",
                    "asset_cost_minor": plan.asset_cost_minor,
                    "version": 1,
                }
            )
            subscription_facts.append(
                SubscriptionFacts(status, plan.name, plan.amount_minor, plan.cycle, moment(start))
            )
            spans.append((start, end if end is not None else days + 1))
        premium = subscriptions[2]
        months = [divmod(now.year * 12 + now.month - 1 - back, 12) for back in range(6)]
        usage = [
            {
                "subscription_id": premium["id"],
                "period_start": date(year, month + 1, 1),
                "metric": plans["premium-eur-monthly"].usage_metric,
                "quantity": rng.randrange(8_000, 40_000),
            }
            for year, month in months
        ]

        # -- payments, their refunds and invoices
        statuses = [str(s) for s in PaymentStatus]
        weights = {"succeeded": 80, "failed": 8, "refunded": 4, "partially_refunded": 5}
        status_weights = [weights.get(s, 3) for s in statuses]  # pending: 3
        reasons = ("Requested by customer", "Duplicate charge", "Service outage credit")
        failures = ("insufficient_funds", "card_declined", "expired_card", "do_not_honor")
        payments, refunds, invoices, invoice_lines, payment_facts = [], [], [], [], []
        payment_id, invoice_id = next_id("payment"), next_id("invoice")
        for number in range(PAYMENTS):
            day = (number + rng.random()) * days / PAYMENTS
            live = [i for i, (start, end) in enumerate(spans) if start <= day < end] or [2]
            index = rng.choice(live)
            sub = subscriptions[index]
            status = rng.choices(statuses, status_weights)[0]
            amount = sub["amount_minor"]
            refunded = {"refunded": amount, "partially_refunded": amount * 3 // 10}.get(status, 0)
            provider = sub["provider"]
            provider_id = {"stripe": f"ch_3{token(24)}", "paypal": token(17)}.get(provider, "")
            row_invoice = None
            if sub["payment_method"] == "invoice":
                row_invoice = invoice_id
                invoice_id += 1
                invoices.append(
                    {
                        "id": row_invoice,
                        "customer_id": customer_id,
                        "subscription_id": sub["id"],
                        "order_id": None,
                        "number": f"INV-LH-{row_invoice:06d}",
                        "status": "paid" if status != "failed" else "open",
                        "issued_at": moment(day - 1),
                        "due_at": moment(day + 29),
                        "total_minor": amount,
                        "currency": sub["currency"],
                        "provider": "manual",
                        "provider_id": "",
                    }
                )
                invoice_lines.append(
                    {
                        "invoice_id": row_invoice,
                        "description": "Team Bundle, one quarter (10 seats)",
                        "quantity": 1,
                        "unit_amount_minor": amount,
                        "amount_minor": amount,
                    }
                )
            payments.append(
                {
                    "id": payment_id,
                    "customer_id": customer_id,
                    "subscription_id": sub["id"],
                    "order_id": None,
                    "invoice_id": row_invoice,
                    "amount_minor": amount,
                    "currency": sub["currency"],
                    "refunded_minor": refunded,
                    "status": status,
                    "method": sub["payment_method"],
                    "provider": provider,
                    "provider_id": provider_id,
                    "failure_reason": rng.choice(failures) if status == "failed" else "",
                    "description": f"{plans[specs[index][0]].name} ({sub['cycle']})",
                    "affiliate": "",
                    "commission_minor": 0,
                    "created_at": moment(day),
                }
            )
            payment_facts.append(PaymentFacts(status, amount, refunded))
            parts = (
                [refunded] if status == "refunded" else [refunded // 2, refunded - refunded // 2]
            )
            for part_number, part in enumerate(parts if refunded else []):
                refunds.append(
                    {
                        "payment_id": payment_id,
                        "amount_minor": part,
                        "currency": sub["currency"],
                        "status": "succeeded",
                        "reason": rng.choice(reasons),
                        "provider_id": f"re_3{token(24)}" if provider == "stripe" else "",
                        "created_at": moment(day + 2 + part_number * 5),
                        "agent_id": rng.choice(agents) if rng.random() < 0.7 else None,
                    }
                )
            payment_id += 1

        # -- activity: every kind by every actor type, two events in five with details
        kinds = [str(k) for k in ActivityKind]
        actors = [str(a) for a in ActorType]
        plan_names = [plans[spec[0]].name for spec in specs]
        topics = ("Cannot log in", "Invoice address wrong", "Hub offline", "Upgrade question")
        events = []
        for number in range(EVENTS):
            kind, actor = kinds[number % 5], actors[number // 5 % 3]
            day = (number + rng.random()) * days / EVENTS
            details: dict[str, Any] = {}
            if kind == "subscription":
                plan = rng.choice(plan_names)
                summary = rng.choice(
                    (f"Subscription {plan} renewed", f"Plan changed to {plan}", f"{plan} paused")
                )
                if number % 5 < 2:
                    details = {"subscription_id": rng.choice(subscriptions)["id"], "plan": plan}
            elif kind == "payment":
                payment = payments[min(PAYMENTS - 1, number * PAYMENTS // EVENTS)]
                euros = f"€{payment['amount_minor'] / 100:,.2f}"
                summary = f"Payment of {euros} {payment['status'].replace('_', ' ')}"
                if number % 5 < 2:
                    details = {"payment_id": payment["id"], "amount_minor": payment["amount_minor"]}
            elif kind == "profile":
                field = rng.choice(("email", "phone", "billing address", "VAT id"))
                summary = f"Changed {field}"
                if number % 5 < 2:
                    details = {"field": field, "from": token(8).lower(), "to": token(8).lower()}
            elif kind == "support":
                ticket = 40_000 + number
                summary = f"Ticket #{ticket} {rng.choice(('opened', 'solved'))}: "
                summary += rng.choice(topics)
                if number % 5 < 2:
                    details = {"ticket_id": ticket, "channel": rng.choice(("email", "phone"))}
            else:
                campaign = rng.choice(("spring-upgrade", "hub-launch", "renewal-reminder"))
                summary = f"Campaign {campaign}: email {rng.choice(('sent', 'opened', 'clicked'))}"
                if number % 5 < 2:
                    details = {"campaign": campaign, "template": f"{campaign}-v2"}
            events.append(
                {
                    "customer_id": customer_id,
                    "occurred_at": moment(day),
                    "kind": kind,
                    "actor_type": actor,
                    "agent_id": rng.choice(agents) if actor == "agent" else None,
                    "summary": summary,
                    "details": details,
                }
            )

        # -- the rest of the profile: notes, addresses, tags, ids, preferences, history
        note_types = [str(t) for t in NoteType]
        notes = [
            {
                "customer_id": customer_id,
                "type": note_types[number % len(note_types)],
                "summary": f"Call about the {rng.choice(plan_names)} plan",
                "body": "Discussed the renewal.\nSends the signed order next week."
                if number % 3
                else "",
                "follow_up_on": (now + timedelta(days=number)).date() if number % 4 == 0 else None,
                "created_at": moment(days - number * 97),
                "agent_id": rng.choice(agents),
            }
            for number in range(NOTES)
        ]
        address = {
            "customer_id": customer_id,
            "line2": "",
            "city": "Berlin",
            "state": "",
            "postal_code": "10115",
            "country": "DE",
        }
        addresses = [
            {**address, "kind": "billing", "is_default": True, "line1": "Invalidenstraße 116",
             "valid_from": moment(1_200), "valid_to": None},
            {**address, "kind": "billing", "is_default": False, "line1": "Chausseestraße 8",
             "valid_from": moment(0), "valid_to": moment(1_200)},
            {**address, "kind": "shipping", "is_default": True, "line1": "Lagerweg 3",
             "city": "Potsdam", "postal_code": "14467", "valid_from": moment(1_400),
             "valid_to": None},
        ]  # fmt: skip
        summary = summarise(subscription_facts, payment_facts)
        customer = {
            "id": customer_id,
            "kind": "business",
            "name": HEAVY_NAME,
            "email": HEAVY_EMAIL,
            "phone": "+49 30 5557 1234",
            "company_name": "Longhistory Logistics GmbH",
            "company_reg_no": "HRB 998877 B",
            "company_email": "billing@longhistory-logistics.example",
            "vat_id": "DE998877665",
            "payment_terms": "net30",
            "billing_group": "Enterprise",
            "billing_contact": "Ingrid Longhistory <billing@longhistory-logistics.example>",
            "storefront": "Web",
            "region": "Europe",
            "country": "DE",
            "timezone": "Europe/Berlin",
            "registered_at": moment(0),
            "account_state": "active",
            "assigned_agent_id": agents[0],
            "lifecycle_status": str(summary.lifecycle_status),
            "current_plan": summary.current_plan,
            "has_active_subscription": summary.has_active_subscription,
            "currency": "EUR",
            "mrr_minor": summary.mrr_minor,
            "ltv_minor": summary.ltv_minor,
            "version": 1,
            "updated_at": now,
        }
        insert("customer", [customer])
        insert("subscription", subscriptions)
        insert("usage", usage)
        insert("invoice", invoices)
        insert("invoice_line", invoice_lines)
        insert("payment", payments)
        insert("refund", refunds)
        insert("activity_event", events)
        insert("note", notes)
        insert("address", addresses)
        insert(
            "customer_tag",
            [
                {"customer_id": customer_id, "tag_id": tag_ids[name], "added_at": moment(10),
                 "added_by_agent_id": agents[0]}
                for name in ("vip", "high-usage") if name in tag_ids
            ],
        )  # fmt: skip
        insert(
            "external_id",
            [
                {"customer_id": customer_id, "provider": "stripe",
                 "external_id": f"cus_LH{token(12)}"},
                {"customer_id": customer_id, "provider": "paypal", "external_id": token(13)},
            ],
        )  # fmt: skip
        insert(
            "preference",
            [
                {"customer_id": customer_id, "contract_length_months": 12,
                 "payment_method": "card", "billing_frequency": "monthly",
                 "communication": "email"}
            ],
        )  # fmt: skip
        insert(
            "account_state_change",
            [
                {"customer_id": customer_id, "from_state": "active", "to_state": "deactivated",
                 "reason": "Unpaid invoices", "changed_at": moment(1_700), "agent_id": agents[1]},
                {"customer_id": customer_id, "from_state": "deactivated", "to_state": "active",
                 "reason": "Paid in full", "changed_at": moment(1_720), "agent_id": agents[1]},
            ],
        )  # fmt: skip
        insert(
            "credit",
            [
                {"customer_id": customer_id, "amount_minor": 2_500, "currency": "EUR",
                 "reason": "Goodwill after the outage", "created_at": moment(2_500),
                 "agent_id": agents[2], "provider_id": ""}
            ],
        )  # fmt: skip
    return customer_id


# -------------------------------------------------------------- the service read


def measure_service(database: Path, customer_id: int) -> dict[str, Any]:
    """The profile read, warm, in this process; and building the tabs' contents from it."""
    from crm_tui.screens.profile_tabs import (
        activity_records,
        overview_renderable,
        payment_records,
        subscriptions_renderable,
    )
    from crm_tui.services.actor import Actor
    from crm_tui.services.database import create_db_engine, upgrade
    from crm_tui.services.profile import ProfileService

    engine = create_db_engine(sqlite_url(database))
    upgrade(engine)  # the app would on its first start; not what is measured
    service = ProfileService(engine)
    profile = service.profile(customer_id, Actor.system())  # warm-up
    reads, builds = [], {"payments": [], "activity": [], "overview": []}
    for _ in range(SERVICE_RUNS):
        started = time.perf_counter()
        profile = service.profile(customer_id, Actor.system())
        reads.append((time.perf_counter() - started) * 1000)
    for _ in range(5):
        for name, build in (
            ("payments", lambda: payment_records(profile.payments)),
            ("activity", lambda: activity_records(profile.activity)),
            ("overview", lambda: (overview_renderable(profile), subscriptions_renderable(profile))),
        ):
            started = time.perf_counter()
            build()
            builds[name].append((time.perf_counter() - started) * 1000)
    engine.dispose()
    from crm_tui.formatting import format_money

    return {
        "read_ms": reads,
        "build_ms": {name: median(samples) for name, samples in builds.items()},
        "name": profile.name,
        "lifetime_value": format_money(profile.money.lifetime_value_minor, profile.money.currency),
        "payments": len(profile.payments),
        "refunds": sum(len(p.refunds) for p in profile.payments),
        "payment_statuses": sorted({p.status for p in profile.payments}),
        "activity_events": len(profile.activity),
        "activity_with_details": sum(1 for e in profile.activity if e.details),
        "activity_kinds": sorted({e.kind for e in profile.activity}),
        "actor_types": sorted({e.actor_type for e in profile.activity}),
        "subscriptions": len(profile.subscriptions),
        "notes": len(profile.notes),
        "addresses": len(profile.addresses),
    }


def cprofile_service(database: Path, customer_id: int) -> None:
    """`--cprofile`: where the service read spends its time (top 25, cumulative)."""
    import cProfile
    import pstats

    from crm_tui.services.actor import Actor
    from crm_tui.services.database import create_db_engine
    from crm_tui.services.profile import ProfileService

    engine = create_db_engine(sqlite_url(database))
    service = ProfileService(engine)
    service.profile(customer_id, Actor.system())
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        service.profile(customer_id, Actor.system())
    profiler.disable()
    engine.dispose()
    log("cProfile of 5 service reads (cumulative):")
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)


# ------------------------------------------------------------------ the app child


class GcLog:
    """Python's garbage collections in this process (any thread): when, how long."""

    def __init__(self) -> None:
        self.collections: list[tuple[float, float, int]] = []  # start, ms, generation
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            self.collections.append(
                (self._started, (now - self._started) * 1000, info["generation"])
            )

    def during(self, start: float, end: float) -> float:
        """Milliseconds of full (generation 2) collections between `start` and `end`."""
        return sum(ms for at, ms, gen in self.collections if gen == 2 and start <= at <= end)

    def summary(self) -> dict[str, Any]:
        full = [ms for _at, ms, gen in self.collections if gen == 2]
        return {
            "collections": len(self.collections),
            "full": len(full),
            "full_ms_max": max(full, default=0.0),
            "full_ms_total": sum(full),
            "all_ms_total": sum(ms for _at, ms, _gen in self.collections),
        }


def child_profile(database: Path, customer_id: int, name: str, lifetime_value: str) -> None:
    """The real app: open the heavy profile OPENS times, then work its Activity tab."""
    from crm_tui.app import CrmApp
    from crm_tui.config import Settings
    from crm_tui.services.actor import Actor

    app = CrmApp(Settings(database_url=sqlite_url(database)), actor=Actor.agent("bench"))
    probe = FrameProbe(app)
    keys = Driver(app, probe)
    collections = GcLog()
    title = f"{name} · #{customer_id}"
    out: dict[str, Any] = {}

    def profile_shown() -> bool:
        screen = app.screen
        if type(screen).__name__ != "ProfileScreen" or getattr(screen, "profile", None) is None:
            return False
        lines = screen_text(app).splitlines()
        return (
            bool(lines)
            and title in lines[0]
            and any("Lifetime value" in line and lifetime_value in line for line in lines)
        )

    async def idle() -> None:
        """Until no worker runs (the profile's read, the directory's queries)."""
        deadline = time.perf_counter() + WAIT
        while time.perf_counter() < deadline:
            if not any(worker.is_running for worker in app.workers):
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)

    marks: dict[str, float] = {}
    gc_ms: dict[str, list[float]] = {}  # per metric: full GC milliseconds within each sample

    def instrument() -> None:
        """Timestamps inside an open (the first open has imported the classes)."""
        from crm_tui.screens.profile import ProfileScreen
        from crm_tui.services.profile import ProfileService

        def timed(owner: Any, method: str, before: str, after: str) -> None:
            original = getattr(owner, method)

            @functools.wraps(original)  # Textual passes a handler the arguments it names
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                marks[before] = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    marks[after] = time.perf_counter()

            setattr(owner, method, wrapper)

        timed(ProfileScreen, "on_mount", "mount", "mounted")
        timed(ProfileService, "overview", "read", "read_done")
        timed(ProfileScreen, "show_overview", "show", "shown")

    async def main() -> None:
        async with app.run_test(size=SIZE, notifications=True, tooltips=True):
            table = app.directory.table
            await asyncio.wait_for(probe.expect(lambda: bool(table.rows)), WAIT)
            await idle()
            phases = {"directory": memory()["rss_mb"]}

            # -- open, escape, open again
            opens: list[dict[str, Any]] = []
            for number in range(OPENS):
                marks.clear()
                future = probe.expect(profile_shown)
                started = time.perf_counter()
                app.open_customer(customer_id)
                try:
                    at = await asyncio.wait_for(future, WAIT)
                except TimeoutError:
                    shown = " / ".join(s.strip() for s in screen_text(app).splitlines()[:8])
                    raise RuntimeError(f"the profile is not on screen: {shown}") from None
                sample = {"ms": (at - started) * 1000, "gc_ms": collections.during(started, at)}
                # Then the Payments and Activity tabs, filled in the background.
                # Hidden tabs draw no frame: poll for the moment their data is in.
                deadline = time.perf_counter() + WAIT
                while not getattr(app.screen, "complete", False):
                    if time.perf_counter() > deadline:
                        raise RuntimeError("the payments and activity never came")
                    await asyncio.sleep(0.002)
                complete = max(at, time.perf_counter())
                sample["complete_ms"] = (complete - started) * 1000
                if marks:
                    sample |= {
                        "mount_ms": (marks["mounted"] - started) * 1000,
                        "read_ms": (marks["read_done"] - marks["read"]) * 1000,
                        "handover_ms": (marks["show"] - marks["read_done"]) * 1000,
                        "show_ms": (marks["shown"] - marks["show"]) * 1000,
                        "draw_ms": (at - marks["shown"]) * 1000,
                    }
                opens.append(sample)
                await idle()
                if number == 0:
                    phases["first profile"] = memory()["rss_mb"]
                    instrument()
                if number < OPENS - 1:
                    await keys.press("escape", lambda: app.screen is app.directory, KEY_REPEAT)
                    await idle()
            out["opens"] = opens
            phases[f"{OPENS} opens"] = memory()["rss_mb"]

            screen = app.screen
            activity = screen.query_one("#activity-list")

            def tab_shown(tab: str) -> Callable[[], bool]:
                return lambda: screen.active_tab == tab and TAB_MARKS[tab] in screen_text(app)

            async def press(metric: str, key: str, done: Callable[[], bool]) -> float:
                """Milliseconds from `key` to its frame; notes the full GCs in between."""
                seconds = await keys.press(key, done, KEY_REPEAT)
                window = collections.during(keys.last_press, keys.last_press + seconds)
                gc_ms.setdefault(metric, []).append(window)
                return seconds * 1000

            # -- the Activity tab: cursor, page down, expand
            out["to_activity_ms"] = await keys.press("4", tab_shown("activity"), KEY_REPEAT) * 1000
            await idle()
            out["visible_records"] = activity.size.height - 1
            cursor = []
            for _ in range(CURSOR_PRESSES):
                target = activity.cursor + 1
                cursor.append(await press("cursor", "j", lambda t=target: activity.cursor == t))
            out["cursor_ms"] = cursor
            pages = []
            for _ in range(PAGE_PRESSES):
                before = activity.cursor
                if before >= len(activity.records) - 1:
                    break
                pages.append(
                    await press("page_down", "pagedown", lambda b=before: activity.cursor != b)
                )
            out["page_down_ms"] = pages
            out["cursor_at"] = activity.cursor
            expands = []
            for number in range(EXPANDS):
                key = activity.current.key
                wanted = number % 2 == 0

                def toggled(key: Any = key, wanted: bool = wanted) -> bool:
                    return (key in activity.expanded) is wanted

                expands.append(await press("expand", "enter", toggled))
                if not wanted:
                    target = activity.cursor + 1
                    await keys.press("j", lambda t=target: activity.cursor == t, KEY_REPEAT)
            out["expand_ms"] = expands
            phases["activity"] = memory()["rss_mb"]

            # -- the tab keys, once the previous tab's underline has stopped moving
            tabs = []
            for _ in range(TAB_ROUNDS):
                for number, tab in enumerate(TAB_MARKS, start=1):
                    await asyncio.sleep(TAB_SPACING)
                    tabs.append(
                        {"tab": tab, "ms": await press("tabs", str(number), tab_shown(tab))}
                    )
            out["tabs"] = tabs
            out["gc_ms_in_samples"] = gc_ms
            phases["tabs"] = memory()["rss_mb"]
            out["frames"] = probe.frames
            out["gc"] = collections.summary()
            out["tracked_objects"] = len(gc.get_objects())
            out["rss_by_phase_mb"] = phases
            gc.collect()
            out.update(memory())
            emit(out)
            app.exit()

    asyncio.run(main())


# -------------------------------------------------------------------- the parent


def run_child(args: list[str], timeout: float) -> dict[str, Any]:
    """Run this script with `args` in a fresh process; its RESULT line."""
    return spawn_child(args, timeout, script=__file__)[1]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import textual

    database = Path(args.database) if args.database else DATABASE
    results: dict[str, Any] = {
        "size": list(SIZE),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "textual": textual.__version__,
        "database": str(database),
    }
    load_before = os.getloadavg()
    results["data"] = data = ensure_database(database)
    results["warmed_s"] = warm_page_cache(
        *(p for p in (database, Path(f"{database}-wal")) if p.exists())
    )
    log(f"service read × {SERVICE_RUNS} of customer #{data['id']} …")
    results["service"] = service = measure_service(database, data["id"])
    if args.cprofile:
        cprofile_service(database, data["id"])
    log(f"the app: open × {OPENS}, then the Activity tab …")
    results["app"] = run_child(
        [
            "--child",
            "--database",
            str(database),
            "--customer",
            str(data["id"]),
            "--name",
            service["name"],
            "--lifetime-value",
            service["lifetime_value"],
        ],
        600,
    )
    results["load_average"] = [load_before, os.getloadavg()]
    results["figures"] = figures(results)
    return results


def figures(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the report: the figure, the budget and the verdict."""
    app, service = results["app"], results["service"]
    rows: list[dict[str, Any]] = []

    def add(key: str, label: str, unit: str, value: float, note: str = "") -> None:
        budget = BUDGETS.get(key)
        ok = None if budget is None else value <= budget
        rows.append(
            {
                "metric": key,
                "label": label,
                "unit": unit,
                "ours": value,
                "budget": budget,
                "pass": ok,
                "note": note,
            }
        )

    def pair(key: str, label: str, samples: list[float], note: str = "") -> None:
        add(f"{key}_p50", f"{label}, p50", "ms", percentile(samples, 0.5), note)
        add(f"{key}_p95", f"{label}, p95", "ms", percentile(samples, 0.95))

    reads = service["read_ms"]
    pair("service_read", f"ProfileService.profile (in process, {len(reads)} runs)", reads)
    opens = [o["ms"] for o in app["opens"]]
    pair("open", f"open the profile → frame with its data ({len(opens)} opens)", opens)
    complete = [o["complete_ms"] for o in app["opens"]]
    pair("complete", "… and its payments + activity filled in (background)", complete)
    add(
        "first_open",
        "of which the first open of the process",
        "ms",
        opens[0],
        "imports the profile's modules",
    )
    tabs = [t["ms"] for t in app["tabs"]]
    pair("tab_switch", f"tab key 1–5 → frame with the tab ({len(tabs)} presses)", tabs)
    pair("cursor", f"Activity: j → frame ({len(app['cursor_ms'])} presses)", app["cursor_ms"])
    pages = app["page_down_ms"]
    pair("page_down", f"Activity: page down → frame ({len(pages)} presses)", pages)
    expands = app["expand_ms"]
    pair("expand", f"Activity: enter (expand / collapse) → frame ({len(expands)})", expands)
    add("rss_mb", "resident memory of the app after all this (peak)", "MB", app["peak_mb"])
    return rows


def render(results: dict[str, Any]) -> str:
    def number(value: float | None, unit: str) -> str:
        if value is None or math.isnan(value):
            return "—"
        return f"{value:,.1f} ms" if unit == "ms" else f"{value:,.0f} MB"

    data, service, app = results["data"], results["service"], results["app"]
    load = results["load_average"]
    lines = [
        f"crm-tui profile benchmark: customer #{data['id']} ({service['name']}) with "
        f"{service['payments']:,} payments and {service['activity_events']:,} activity events, "
        f"among {data['customers']:,} customers; {results['size'][0]}x{results['size'][1]}, "
        f"{results['cpus']} CPUs, Python {results['python']}, Textual {results['textual']}; "
        f"load average {load[0][0]:.2f} before, {load[1][0]:.2f} after",
        "",
    ]
    table = [("metric", "ours", "budget", "")]
    for row in results["figures"]:
        budget = "—" if row["budget"] is None else "≤ " + number(row["budget"], row["unit"])
        verdict = {True: "pass", False: "FAIL", None: ""}[row["pass"]]
        if row["note"]:
            verdict = f"{verdict}  ({row['note']})".strip()
        table.append((row["label"], number(row["ours"], row["unit"]), budget, verdict))
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2])]
        lines.append("  ".join([*cells, row[3]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))

    opens = app["opens"]
    warm = [o for o in opens if "read_ms" in o]
    lines += [
        "",
        "opens (ms): " + ", ".join(f"{o['ms']:.0f}" for o in opens),
    ]
    if warm:
        parts = ("mount_ms", "read_ms", "handover_ms", "show_ms", "draw_ms")
        lines.append(
            "an open after the first, p50 (ms): "
            + " + ".join(f"{key[:-3]} {median([o[key] for o in warm]):.1f}" for key in parts)
            + " (mount: open → screen mounted; read: ProfileService.overview in its thread; "
            "handover: to the event loop; show: show_overview fills the tabs; draw: to the frame)"
        )
    build = service["build_ms"]
    lines.append(
        f"in process, p50: the read {median(service['read_ms']):.1f} ms; from its result, "
        f"payment records {build['payments']:.1f} ms, activity records {build['activity']:.1f} ms, "
        f"Overview + Subscriptions renderables {build['overview']:.1f} ms"
    )
    by_tab: dict[str, list[float]] = {}
    for sample in app["tabs"]:
        by_tab.setdefault(sample["tab"], []).append(sample["ms"])
    lines.append(
        "tab → frame, p50 by tab (ms): "
        + ", ".join(f"{tab} {median(ms):.1f}" for tab, ms in by_tab.items())
        + f"; `4` the first time {app['to_activity_ms']:.1f}"
    )
    lines.append(
        f"Activity: {app['visible_records']} records visible, cursor on record "
        f"{app['cursor_at']:,} after the page downs"
    )
    collections = app["gc"]
    hit = {"open": [o["gc_ms"] for o in opens], **app["gc_ms_in_samples"]}
    lines.append(
        f"garbage collection in the app: {collections['full']} full collections, up to "
        f"{collections['full_ms_max']:.0f} ms each ({collections['full_ms_total']:.0f} ms in all); "
        f"{app['tracked_objects']:,} objects tracked at the end; samples with one inside: "
        + ", ".join(
            f"{metric} {sum(1 for ms in values if ms)} of {len(values)} (+{sum(values):.0f} ms)"
            for metric, values in hit.items()
        )
    )
    lines.append(
        "RSS by phase (MB): "
        + ", ".join(f"{name} {mb:.0f}" for name, mb in app["rss_by_phase_mb"].items())
        + f"; now {app['rss_mb']:.0f}, peak {app['peak_mb']:.0f}"
    )
    lines.append(
        f"data: {service['payments']:,} payments ({', '.join(service['payment_statuses'])}; "
        f"{service['refunds']} refunds), {service['activity_events']:,} events "
        f"({', '.join(service['activity_kinds'])}; by {', '.join(service['actor_types'])}; "
        f"{service['activity_with_details']:,} with details), {service['subscriptions']} "
        f"subscriptions, {service['notes']} notes, {service['addresses']} addresses"
    )
    made = "reused, made" if data.get("reused") else "made"
    if "seed_demo_s" in data:
        lines.append(
            f"database: {results['database']} ({made} {data.get('seeded_at', '?')}: demo "
            f"{data['seed_demo_s']:.1f} s, heavy customer {data['seed_heavy_s']:.1f} s); "
            f"read once before measuring ({results['warmed_s']:.2f} s)"
        )
    failed = [row["label"] for row in results["figures"] if row["pass"] is False]
    lines.append("")
    lines.append("all budgets met" if not failed else f"over budget: {'; '.join(failed)}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        metavar="PATH",
        help="SQLite file (default benchmarks/.data/profile-heavy.sqlite3, made once)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--cprofile", action="store_true", help="also print a cProfile of the service read"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--customer", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--lifetime-value", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_profile(Path(args.database), args.customer, args.name, args.lifetime_value)
        return 0
    results = measure(args)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print(render(results))
    return 1 if any(row["pass"] is False for row in results["figures"]) else 0


if __name__ == "__main__":
    sys.exit(main())
