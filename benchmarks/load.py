"""Team mode under load (issue 7): 10 agent processes on one PostgreSQL database.

    .venv/bin/python benchmarks/load.py                       # 10 agents, 60 s
    .venv/bin/python benchmarks/load.py --agents 20 --seconds 120
    .venv/bin/python benchmarks/load.py --postgres URL --json

The database is `CRM_TEST_POSTGRES_URL` (or --postgres): a fresh database is made on
that server and dropped afterwards. Stripe is localstripe, served from this process.

Each agent is its own process, identified as its own agent, working for the whole
time on the SAME small set of customers (12, so they collide all the time):

- search:  a directory search (window and count) for a customer's surname;
- profile: a profile read (which writes its audit entry);
- edit:    the details form's save, with the version the agent read — refused as
           stale when another agent saved first (counted, not an error);
- tag:     a tag unique to the agent and the attempt, so that each can be found after;
- refund:  1.00 of a payment through Stripe — refused when nothing remains or while
           another refund of it is pending (counted, not an error).

Then the checks: no operation failed in an unexpected way; no lost update (every
customer's version is one more per edit that succeeded, and holds the name of the
last one; every tag that succeeded is stored); every refund once at localstripe and
once in the store, the same ids and amounts, and every payment's refunded total
matches Stripe's; the audit chain verifies. It prints operations per second and
the p50/p95 latency of each kind. Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file from a checkout
    sys.path.insert(0, str(ROOT))

CUSTOMERS = 12
OPERATIONS = ("search", "profile", "edit", "tag", "refund")


@dataclass
class AgentResult:
    login: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)
    edits: list[tuple[int, int, str]] = field(default_factory=list)  # customer, version, name
    tags: list[tuple[int, str]] = field(default_factory=list)
    refunds: list[tuple[str, int]] = field(default_factory=list)  # Stripe refund id, amount


@dataclass
class LoadReport:
    agents: int
    seconds: float
    counts: dict[str, int]
    refused: dict[str, int]
    p50_ms: dict[str, float]
    p95_ms: dict[str, float]
    errors: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.problems

    def lines(self) -> list[str]:
        total = sum(self.counts.values())
        out = [
            f"{self.agents} agents, {self.seconds:.0f} s, {total:,} operations, "
            f"{total / self.seconds:,.1f} ops/s"
        ]
        for op in OPERATIONS:
            count = self.counts.get(op, 0)
            out.append(
                f"  {op:<8} {count:>7,} ({count / self.seconds:6.1f}/s)  "
                f"p50 {self.p50_ms.get(op, 0):7.1f} ms  p95 {self.p95_ms.get(op, 0):7.1f} ms  "
                f"refused as expected: {self.refused.get(op, 0):,}"
            )
        out += [f"ERROR {error}" for error in self.errors[:20]]
        out += [f"PROBLEM {problem}" for problem in self.problems[:20]]
        out.append("all checks passed" if self.ok else "CHECKS FAILED")
        return out


# --------------------------------------------------------------------- set-up


def prepare(url: str, stripe: Any, agents: int) -> dict[str, Any]:
    """Customers at Stripe with charges, synced into the store; the agents."""
    from crm_tui.services.database import create_db_engine, upgrade
    from crm_tui.services.providers.stripe import StripeProvider
    from crm_tui.services.stripe_sync import StripeSync
    from tests.factories import add_agent

    stripe.plan("basic", 1000)
    for n in range(CUSTOMERS):
        customer = stripe.customer(f"Load Customer{n:02d} Surname{n % 4}", f"load{n}@example.com")
        stripe.charge(customer, 9900)
        stripe.charge(customer, 4900)
    engine = create_db_engine(url)
    upgrade(engine)
    provider = StripeProvider(stripe.api_key, api_base=stripe.url, timeout=10)
    StripeSync(engine, provider).run()
    with engine.begin() as connection:
        for n in range(agents):
            add_agent(connection, f"load{n}", role="manager", display_name=f"Load Agent {n}")
    engine.dispose()
    return {"api_key": stripe.api_key, "api_base": stripe.url}


def agent_process(
    url: str, login: str, stripe: dict[str, Any], seconds: float, start: Any, queue: Any
) -> None:
    """One agent's loop, in its own process; the result goes back on `queue`. The clock
    starts when every agent is ready (imports and connections are not measured)."""
    result = AgentResult(login)
    try:
        _work(url, login, stripe, seconds, start, queue, result)
    except Exception as error:  # the whole agent died: that is an error too
        result.errors.append(f"{login}: {type(error).__name__}: {error}")
    queue.put(result)


def _work(
    url: str,
    login: str,
    stripe: dict[str, Any],
    seconds: float,
    start: Any,
    queue: Any,
    result: AgentResult,
) -> None:
    import sqlalchemy as sa

    from crm_tui.models import tables
    from crm_tui.screens.details_form import details_of
    from crm_tui.services.agents import identify
    from crm_tui.services.customer_edit import CustomerEditService, InvalidInput, StaleEdit
    from crm_tui.services.database import create_db_engine
    from crm_tui.services.directory import DirectoryQuery, DirectoryService
    from crm_tui.services.profile import ProfileService
    from crm_tui.services.providers.stripe import StripeProvider
    from crm_tui.services.refunds import RefundService

    engine = create_db_engine(url)
    actor = identify(engine, login)
    provider = StripeProvider(stripe["api_key"], api_base=stripe["api_base"], timeout=10)
    refunds = RefundService(engine, {"stripe": provider}, approval_above="")
    directory, profiles, edits = (
        DirectoryService(engine),
        ProfileService(engine),
        CustomerEditService(engine),
    )
    payment = tables.SQLModel.metadata.tables["payment"]
    with engine.connect() as connection:
        ids = sorted(connection.execute(sa.text("SELECT id FROM customer")).scalars())
        payments = sorted(connection.execute(sa.select(payment.c.id)).scalars())
    rng = random.Random(login)
    attempt = 0
    queue.put(("ready", login))
    start.wait()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        attempt += 1
        op = rng.choice(OPERATIONS)
        customer_id = rng.choice(ids)
        started = time.perf_counter()
        try:
            if op == "search":
                query = DirectoryQuery(search=f"Surname{rng.randrange(4)}")
                directory.window(query, actor, limit=50)
                directory.count(query, actor)
            elif op == "profile":
                profiles.profile(customer_id, actor)
            elif op == "edit":
                current = profiles.overview(customer_id, actor, record_view=False)
                name = f"Load Customer {login} {attempt}"
                details = details_of(current)
                version = edits.update_details(
                    customer_id, current.version, _renamed(details, name), actor
                )
                result.edits.append((customer_id, version, name))
            elif op == "tag":
                tag = f"{login}-{attempt}"
                edits.add_tag(customer_id, tag, actor)
                result.tags.append((customer_id, tag))
            else:
                done = refunds.refund(rng.choice(payments), 100, "Load test goodwill", actor)
                result.refunds.append((done.provider_refund_id, done.amount_minor))
        except StaleEdit:  # another agent saved first: the refusal the edit must give
            result.refused[op] += 1
        except InvalidInput as refusal:
            if op == "refund":  # nothing left, or another refund of it pending: expected
                result.refused[op] += 1
            else:
                result.errors.append(f"{login} {op}: {refusal}")
        except Exception as error:
            result.errors.append(f"{login} {op}: {type(error).__name__}: {error}")
        result.latencies[op].append(time.perf_counter() - started)
    engine.dispose()


def _renamed(details: Any, name: str) -> Any:
    from dataclasses import replace

    return replace(details, name=name)


# --------------------------------------------------------------------- checks


def check(url: str, stripe: Any, results: list[AgentResult]) -> list[str]:
    import sqlalchemy as sa

    from crm_tui.services.audit import AuditLog
    from crm_tui.services.database import create_db_engine

    problems: list[str] = []
    engine = create_db_engine(url)
    with engine.connect() as c:
        customers = {row.id: row for row in c.execute(sa.text("SELECT * FROM customer"))}
        tags = set(
            c.execute(
                sa.text(
                    "SELECT ct.customer_id, t.name FROM customer_tag ct "
                    "JOIN tag t ON t.id = ct.tag_id"
                )
            ).all()
        )
        refunds = {
            row.provider_id: row.amount_minor
            for row in c.execute(sa.text("SELECT provider_id, amount_minor FROM refund"))
        }
        refunded = dict(c.execute(sa.text("SELECT provider_id, refunded_minor FROM payment")).all())
    # No lost update: one version per successful edit, the last one's name stored.
    edits: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for result in results:
        for customer_id, version, name in result.edits:
            edits[customer_id].append((version, name))
    for customer_id, done in edits.items():
        versions = sorted(version for version, _ in done)
        if len(set(versions)) != len(versions):
            problems.append(f"customer #{customer_id}: two edits both saved version {versions}")
        row = customers[customer_id]
        last_version, last_name = max(done)
        if row.version < last_version or (row.version == last_version and row.name != last_name):
            problems.append(
                f"customer #{customer_id}: stored v{row.version} {row.name!r}, "
                f"last saved v{last_version} {last_name!r}"
            )
    for result in results:
        for customer_id, tag in result.tags:
            if (customer_id, tag) not in tags:
                problems.append(f"tag {tag} on #{customer_id} was saved and then lost")
    # Every refund once, here and at Stripe.
    reported = {refund_id: amount for result in results for refund_id, amount in result.refunds}
    at_stripe = {
        str(refund.id): int(refund.amount)
        for refund in stripe.objects("refund")
        if str(getattr(refund, "status", "succeeded")) != "failed"
    }
    if set(reported) != set(refunds) or set(refunds) != set(at_stripe):
        problems.append(
            f"refunds differ: reported {len(reported)}, stored {len(refunds)}, "
            f"at Stripe {len(at_stripe)}"
        )
    for refund_id, amount in refunds.items():
        if at_stripe.get(refund_id) != amount:
            problems.append(f"refund {refund_id}: {amount} here, {at_stripe.get(refund_id)} there")
    for charge in stripe.objects("charge"):
        local = refunded.get(str(charge.id))
        if local is not None and local != int(getattr(charge, "amount_refunded", 0) or 0):
            problems.append(f"charge {charge.id}: refunded {local} here, not as at Stripe")
    report = AuditLog(engine).verify()
    if not report.ok:
        problems.append(f"audit: {report.summary()}")
    engine.dispose()
    return problems


# --------------------------------------------------------------------- running


def run(url: str, stripe: Any, agents: int, seconds: float) -> LoadReport:
    """Prepare, run `agents` processes for `seconds`, check; the report."""
    stripe_access = prepare(url, stripe, agents)
    context = multiprocessing.get_context("spawn")
    queue, start = context.Queue(), context.Event()
    processes = [
        context.Process(
            target=agent_process,
            args=(url, f"load{n}", stripe_access, seconds, start, queue),
        )
        for n in range(agents)
    ]
    for process in processes:
        process.start()
    results: list[AgentResult] = []
    for _ in processes:  # each says it is ready (or, failing to start, its result)
        message = queue.get(timeout=180)
        if isinstance(message, AgentResult):
            results.append(message)
    start.set()
    while len(results) < agents:
        results.append(queue.get(timeout=seconds + 180))
    for process in processes:
        process.join(timeout=30)
    latencies: dict[str, list[float]] = defaultdict(list)
    refused: dict[str, int] = defaultdict(int)
    for result in results:
        for op, values in result.latencies.items():
            latencies[op].extend(values)
        for op, count in result.refused.items():
            refused[op] += count
    return LoadReport(
        agents=agents,
        seconds=seconds,
        counts={op: len(values) for op, values in latencies.items()},
        refused=dict(refused),
        p50_ms={op: _quantile(values, 0.50) * 1000 for op, values in latencies.items()},
        p95_ms={op: _quantile(values, 0.95) * 1000 for op, values in latencies.items()},
        errors=[error for result in results for error in result.errors],
        problems=check(url, stripe, results),
    )


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def fresh_database(server_url: str) -> tuple[str, Any]:
    """A new database on the server; (its URL, a function that drops it)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"crm_load_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("CRM_TEST_POSTGRES_URL", ""))
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.postgres:
        print("set CRM_TEST_POSTGRES_URL or --postgres: the load test runs on PostgreSQL")
        return 2
    from tests.support.localstripe_server import serve_localstripe

    url, drop = fresh_database(args.postgres)
    load = os.getloadavg()
    try:
        with serve_localstripe() as stripe:
            report = run(url, stripe, args.agents, args.seconds)
    finally:
        drop()
    if args.json:
        print(json.dumps(report.__dict__ | {"ok": report.ok}, indent=2))
    else:
        print(f"load average before: {load[0]:.2f}, after: {os.getloadavg()[0]:.2f}")
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
