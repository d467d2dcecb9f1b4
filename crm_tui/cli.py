"""The `crm-tui` command: the TUI by default, and scriptable subcommands.

Imports are deferred into each command so `crm-tui` reaches its first frame without
paying for what it does not use (sqlmodel, alembic, the stripe SDK).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from crm_tui.config import DEMO_CUSTOMERS, ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from crm_tui.services.directory import DirectoryQuery


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def _add_database_option(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    # On subcommands the default is SUPPRESS, so `crm-tui --database-url X demo seed`
    # keeps X instead of the subparser's default overwriting it.
    parser.add_argument(
        "--database-url",
        metavar="URL",
        default=None if top_level else argparse.SUPPRESS,
        help="database to use (default: CRM_DATABASE_URL, config.toml, or the local file)",
    )


def _add_filter_options(parser: argparse.ArgumentParser, *, sortable: bool = True) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument("--status", action="append", help="active, inactive or churned")
    group.add_argument("--plan", action="append", help="current plan name")
    group.add_argument("--storefront", action="append")
    group.add_argument("--region", action="append")
    group.add_argument("--type", dest="kind", choices=["individual", "business"])
    group.add_argument("--billing-group", action="append")
    group.add_argument("--registered-from", type=date.fromisoformat, metavar="YYYY-MM-DD")
    group.add_argument("--registered-to", type=date.fromisoformat, metavar="YYYY-MM-DD")
    group.add_argument("--active-subscription", choices=["yes", "no"])
    group.add_argument("--ltv-min", metavar="AMOUNT", help="lifetime value at least, e.g. 100.00")
    group.add_argument("--ltv-max", metavar="AMOUNT")
    if not sortable:
        return
    group.add_argument(
        "--sort",
        default="name",
        choices=["name", "email", "status", "plan", "mrr", "since", "storefront", "ltv"],
    )
    group.add_argument("--desc", action="store_true", help="sort descending")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-tui", description="Keyboard-first CRM for support agents."
    )
    parser.add_argument("--demo", action="store_true", help="open the seeded demo database")
    parser.add_argument("--readonly", action="store_true", default=None, help="disable changes")
    _add_database_option(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="demo data").add_subparsers(
        dest="action", required=True
    )
    seed = demo.add_parser("seed", help="fill the database with deterministic demo customers")
    seed.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, metavar="N")
    seed.add_argument("--seed", type=int, default=1, metavar="S")
    seed.add_argument(
        "--as-of",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the day the data is relative to (default: 2026-11-01, fixed so seeds repeat)",
    )
    _add_database_option(seed)

    db = commands.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    _add_database_option(db.add_parser("upgrade", help="apply migrations"))

    customers = commands.add_parser("customers", help="find and show customers")
    customer_actions = customers.add_subparsers(dest="action", required=True)
    search = customer_actions.add_parser("search", help="search customers (JSON lines)")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--limit", type=int, default=50)
    search.add_argument("--json", action="store_true", help="JSON lines (the only format)")
    _add_filter_options(search)
    _add_database_option(search)
    show = customer_actions.add_parser("show", help="one customer's profile as JSON")
    show.add_argument("customer_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true", help="JSON (the only format)")
    _add_database_option(show)

    importing = commands.add_parser("import", help="import data").add_subparsers(
        dest="action", required=True
    )
    import_customers = importing.add_parser("customers", help="import customers from a CSV file")
    import_customers.add_argument("file", metavar="FILE.csv")
    import_customers.add_argument(
        "--skip-invalid", action="store_true", help="import the valid rows, report the rest"
    )
    _add_database_option(import_customers)

    exporting = commands.add_parser("export", help="export data").add_subparsers(
        dest="action", required=True
    )
    export_customers = exporting.add_parser(
        "customers", help="write every customer matching the search and filters to a CSV file"
    )
    export_customers.add_argument("file", metavar="FILE.csv")
    export_customers.add_argument("query", nargs="?", default="")
    export_customers.add_argument("--force", action="store_true", help="replace FILE if it exists")
    # Rows come in customer id order (the export streams by id): no --sort.
    _add_filter_options(export_customers, sortable=False)
    _add_database_option(export_customers)
    reconcile = commands.add_parser(
        "reconcile",
        help="settle pending provider actions (refunds, pauses, ...) with the provider",
    )
    _add_database_option(reconcile)
    secrets = commands.add_parser("secrets", help="provider credentials in the OS keyring")
    secrets_set = secrets.add_subparsers(dest="action", required=True).add_parser(
        "set", help="store a credential (asked for, never echoed)"
    )
    secrets_set.add_argument("secret_group", choices=["stripe", "paypal", "smtp"])
    sync = commands.add_parser("sync", help="import and update customers from a provider")
    sync.add_argument("action", choices=["stripe", "paypal"], help="the provider")
    sync.add_argument(
        "--full", action="store_true", help="read everything, not only what changed since last run"
    )
    _add_database_option(sync)
    auditing = commands.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True
    )
    verify = auditing.add_parser(
        "verify", help="check the hash chain; exit 1 naming the first bad entry"
    )
    _add_database_option(verify)
    show_audit = auditing.add_parser("show", help="list entries, newest first")
    show_audit.add_argument("--customer", type=int, metavar="ID")
    show_audit.add_argument("--agent", metavar="LOGIN")
    show_audit.add_argument(
        "--action", dest="audit_action", metavar="ACTION", help="e.g. customer.view"
    )
    show_audit.add_argument("--limit", type=int, default=50)
    show_audit.add_argument("--json", action="store_true", help="JSON lines")
    _add_database_option(show_audit)
    _add_agents_parser(commands)
    doctor = commands.add_parser(
        "doctor", help="check the setup: database, keyring, providers, email, terminal, tmux"
    )
    _add_database_option(doctor)
    _add_serve_parser(commands)
    segments = commands.add_parser("segments", help="customer segments (New, Loyal, At-risk, ...)")
    segment_actions = segments.add_subparsers(dest="action", required=True)
    recompute = segment_actions.add_parser(
        "recompute", help="compute every segment now, with the thresholds in config.toml"
    )
    recompute.add_argument("--json", action="store_true", help="JSON output")
    _add_database_option(recompute)
    counts = segment_actions.add_parser("counts", help="how many customers each segment holds")
    counts.add_argument("--json", action="store_true", help="JSON output")
    _add_database_option(counts)
    _add_analytics_parser(commands)
    return parser


def _add_analytics_parser(commands: Any) -> None:
    analytics = commands.add_parser(
        "analytics",
        help="the analytics screen's figures for the customers a search and filters select",
    )
    analytics.add_argument("query", nargs="?", default="", help="a search, as in the directory")
    # Read as text and checked by the command: a bad date gets a sentence, not a usage dump.
    analytics.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (UTC)")
    analytics.add_argument(
        "--to", dest="end", metavar="YYYY-MM-DD", help="last day (UTC; default: today)"
    )
    analytics.add_argument(
        "--json", action="store_true", help="JSON: each figure with its definition"
    )
    _add_filter_options(analytics, sortable=False)
    _add_database_option(analytics)


def _add_agents_parser(commands: Any) -> None:
    agents = commands.add_parser(
        "agents", help="who may use this database, and in which role (admins change it)"
    ).add_subparsers(dest="action", required=True)
    listing = agents.add_parser("list", help="every agent, their role and state")
    listing.add_argument("--json", action="store_true", help="JSON lines")
    _add_database_option(listing)
    add = agents.add_parser("add", help="let an operating-system login use this database")
    add.add_argument("username", metavar="LOGIN")
    add.add_argument("--role", choices=["agent", "manager", "admin"], default="agent")
    add.add_argument("--name", default="", help="the name shown to others (default: LOGIN)")
    add.add_argument("--readonly", dest="agent_readonly", action="store_true")
    _add_database_option(add)
    role = agents.add_parser("set-role", help="make an agent an agent, manager or admin")
    role.add_argument("username", metavar="LOGIN")
    role.add_argument("role", choices=["agent", "manager", "admin"])
    _add_database_option(role)
    for name, text in (
        ("disable", "refuse this login from now on (their history stays)"),
        ("enable", "let a disabled login in again"),
    ):
        _add_database_option(_with_login(agents.add_parser(name, help=text)))
    readonly = agents.add_parser("set-readonly", help="let an agent read but not change")
    readonly.add_argument("username", metavar="LOGIN")
    readonly.add_argument("value", choices=["on", "off"])
    _add_database_option(readonly)


def _add_serve_parser(commands: Any) -> None:
    serving = commands.add_parser(
        "serve",
        help="the app in a browser, as you (through your own SSH tunnel)",
        description="Serve the app to a browser. Each tab runs as the agent who started "
        "`serve`: anyone who can reach the port with its address acts as that agent.",
    )
    serving.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine)")
    serving.add_argument("--port", type=int, default=8000)
    serving.add_argument(
        "--public-url", metavar="URL", help="where the browser reaches the server, if not HOST:PORT"
    )
    _add_database_option(serving)


def _with_login(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("username", metavar="LOGIN")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        flags={
            "database_url": args.database_url,
            "demo": args.demo or None,
            "readonly": args.readonly,
        }
    )


def _open_database(settings: Settings) -> Any:
    from crm_tui.services.database import create_db_engine, upgrade

    engine = create_db_engine(settings.resolved_database_url())
    report = upgrade(engine)
    if report.applied:
        print(f"database migrated to {report.after}", file=sys.stderr)
    return engine


def _signed_in(engine: Any, settings: Settings) -> Any:
    """The person running the command, as an agent of this database (or a CliError)."""
    from crm_tui.services.actor import os_login
    from crm_tui.services.agents import AgentRefused, identify

    try:
        return identify(
            engine, os_login(), readonly=settings.readonly, register_unknown=settings.demo
        )
    except AgentRefused as error:
        raise CliError(str(error)) from None


def _authorized(engine: Any, settings: Settings, permission: str, doing: str) -> Any:
    """`_signed_in`, refused with a CliError unless the agent may `doing`."""
    from crm_tui.services.permissions import NotAllowed, Permission, authorize

    actor = _signed_in(engine, settings)
    try:
        with engine.connect() as connection:
            authorize(connection, actor, Permission(permission), doing)
    except NotAllowed as error:
        raise CliError(error.message) from None
    return actor


def _cmd_tui(settings: Settings) -> int:
    from crm_tui.app import CrmApp

    app = CrmApp(settings)
    app.run()
    return app.return_code or 0  # 129: the terminal hung up


def _cmd_demo_seed(args: argparse.Namespace, settings: Settings) -> int:
    from crm_tui.services.demo_seed import seed_demo

    if args.customers < 1:
        raise CliError("--customers must be at least 1")
    engine = _open_database(settings)
    # Whoever seeds a new database opens it first: they become its admin (and a
    # stranger cannot add demo data to a database that has agents).
    _authorized(engine, settings, "change customer data", "seed demo data")

    def progress(done: int, total: int) -> None:
        print(f"\rseeding: {done:,}/{total:,} customers", end="", file=sys.stderr, flush=True)

    report = seed_demo(engine, args.customers, seed=args.seed, as_of=args.as_of, progress=progress)
    print(file=sys.stderr)
    print(json.dumps(report.as_dict()))
    return 0


def _cmd_db_upgrade(settings: Settings) -> int:
    from crm_tui.services.database import create_db_engine, upgrade

    report = upgrade(create_db_engine(settings.resolved_database_url()))
    if report.applied:
        print(f"migrated from {report.before or 'an empty database'} to {report.after}")
    else:
        print(f"already at {report.after}")
    return 0


def _cmd_customers_search(args: argparse.Namespace, settings: Settings) -> int:
    from crm_tui.services import directory

    try:
        filters = directory.filters_from_options(vars(args))
    except ValueError as error:
        raise CliError(str(error)) from None
    query = directory.DirectoryQuery(
        search=args.query, filters=filters, sort=directory.Sort(args.sort, args.desc)
    )
    engine = _open_database(settings)
    service = directory.DirectoryService(engine)
    actor = _authorized(engine, settings, "read customer data", "search customers")
    service.record_search(query, actor, service.count(query, actor))
    for row in service.iter_rows(query, actor, limit=max(args.limit, 0)):
        print(json.dumps(row.as_json(), ensure_ascii=False))
    return 0


def _cmd_customers_show(args: argparse.Namespace, settings: Settings) -> int:
    from crm_tui.services.profile import CustomerNotFound, ProfileService

    engine = _open_database(settings)
    actor = _authorized(engine, settings, "read customer data", "read customers")
    try:
        profile = ProfileService(engine).profile(args.customer_id, actor)
    except CustomerNotFound:
        raise CliError(f"no customer with id {args.customer_id}") from None
    print(json.dumps(profile.as_json(), ensure_ascii=False, indent=2))
    return 0


def _cmd_import_customers(args: argparse.Namespace, settings: Settings) -> int:
    from crm_tui.services.customer_import import import_customers

    engine = _open_database(settings)
    actor = _authorized(engine, settings, "change customer data", "import customers")
    report = import_customers(engine, args.file, actor, skip_invalid=args.skip_invalid)
    for problem in report.errors:
        print(problem, file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_export_customers(args: argparse.Namespace, settings: Settings) -> int:
    from crm_tui.services import directory
    from crm_tui.services.customer_export import CustomerExport
    from crm_tui.services.private_files import ExportError, ExportRefused, TargetExists

    try:
        filters = directory.filters_from_options(vars(args))
    except ValueError as error:
        raise CliError(str(error)) from None
    query = directory.DirectoryQuery(search=args.query, filters=filters)
    engine = _open_database(settings)
    actor = _authorized(engine, settings, "export customer data", "export customers")
    selection = directory.DirectoryService(engine).marked_ids(query, set())

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():  # a progress line is noise in a script's log
            print(f"\rexporting: {done:,}/{total:,} customers", end="", file=sys.stderr, flush=True)

    try:
        report = CustomerExport(engine).write(
            selection,
            args.file,
            actor,
            progress=progress,
            replace=args.force,
            describe=_describe_query(query),
        )
    except TargetExists:
        raise CliError(f"{args.file} exists: nothing was written (--force replaces it)") from None
    except ExportRefused as error:
        raise CliError(str(error)) from None
    except ExportError as error:  # the disk or the database failed midway
        print(f"crm-tui: {error}", file=sys.stderr)
        return 1
    finally:
        if sys.stderr.isatty():
            print(file=sys.stderr)
    noun = "customer" if report.rows == 1 else "customers"
    print(f"Exported {report.rows:,} {noun} to {args.file}", file=sys.stderr)
    return 0


def _describe_query(query: DirectoryQuery) -> str:
    """What was exported, for the audit entry: the search and filters, never names."""
    parts = [f"search {query.search!r}"] if query.search else []
    parts.extend(query.filters.describe())
    return "every match of " + ("; ".join(parts) or "all customers")


def _providers(settings: Settings) -> Any:
    from crm_tui.services.providers.registry import providers_for
    from crm_tui.services.secrets import Secrets

    return providers_for(settings, Secrets().get)


def _cmd_reconcile(settings: Settings) -> int:
    from crm_tui.services.reconcile import reconcile_all

    engine = _open_database(settings)
    actor = _authorized(engine, settings, "change customer data", "settle pending actions")
    lines = reconcile_all(engine, _providers(settings), actor)
    for line in lines:
        print(line)
    print(f"{len(lines)} pending action(s) looked at")
    return 1 if any("still pending" in line for line in lines) else 0


def _cmd_secrets_set(group: str) -> int:
    import getpass

    from crm_tui.services.secrets import GROUPS, NoKeyring, Secrets

    secrets = Secrets()
    usable, why = secrets.keyring_status()
    if not usable:
        from crm_tui.services.secrets import fallback_hint

        print(f"crm-tui: {why}. {fallback_hint(GROUPS[group])}", file=sys.stderr)
        return 2
    for name in GROUPS[group]:
        label = name.replace("_", " ")
        # Piped input (scripts, tests) is read as a line; a terminal never echoes it.
        value = getpass.getpass(f"{label}: ") if sys.stdin.isatty() else sys.stdin.readline()
        value = value.strip()
        if not value:
            raise CliError(f"no {label} given; nothing stored")
        try:
            secrets.set(name, value)
        except NoKeyring as error:
            print(f"crm-tui: {error}", file=sys.stderr)
            return 2
        print(f"stored {name} in the keyring ({why})")
    return 0


def _cmd_sync(provider_name: str, full: bool, settings: Settings) -> int:
    from crm_tui.services.providers.base import ProviderError, UnconfiguredProvider

    provider = _providers(settings)[provider_name]
    if isinstance(provider, UnconfiguredProvider):
        raise CliError(f"sync {provider_name}: not configured: {provider.hint}")
    engine = _open_database(settings)
    _authorized(engine, settings, "change customer data", f"sync from {provider_name}")

    def progress(stage: str, done: int, total: int | None) -> None:
        # One line, rewritten in place: a progress bar where the total is unknown.
        print(f"\r{stage}: {done:,}" + (f" / {total:,}" if total else ""), end="", file=sys.stderr)

    try:
        if provider_name == "stripe":
            from crm_tui.services.stripe_sync import StripeSync

            report = StripeSync(engine, provider).run(full=full, progress=progress)
        else:
            from crm_tui.services.paypal_sync import PayPalSync

            report = PayPalSync(engine, provider).run(full=full, progress=progress)
    except ProviderError as error:
        print(file=sys.stderr)
        raise CliError(f"sync {provider_name}: {error.message}") from None
    print(file=sys.stderr)
    for line in report.lines():
        print(line)
    return 0


def _cmd_audit_verify(settings: Settings) -> int:
    from crm_tui.services.audit import AuditLog

    engine = _open_database(settings)
    _signed_in(engine, settings)
    report = AuditLog(engine).verify()
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_audit_show(args: argparse.Namespace, settings: Settings) -> int:
    from crm_tui.services.audit import AuditLog
    from crm_tui.text import safe_text

    engine = _open_database(settings)
    _authorized(engine, settings, "read the audit trail", "read the audit trail")
    entries = AuditLog(engine).entries(
        customer_id=args.customer,
        agent=args.agent,
        action=args.audit_action,
        limit=max(args.limit, 0),
    )
    for entry in entries:
        if args.json:
            print(json.dumps(entry.as_json(), ensure_ascii=False))
            continue
        customer = f"#{entry.customer_id}" if entry.customer_id is not None else "-"
        what = entry.details.get("summary") or json.dumps(entry.details, ensure_ascii=False)
        line = f"{entry.seq:>7} {entry.at:%Y-%m-%d %H:%M:%S} {entry.agent_username:<12} "
        print(safe_text(f"{line}{entry.action:<22} {customer:<9} {what}".rstrip()))
    return 0


def _cmd_segments(action: str, as_json: bool, settings: Settings) -> int:
    """recompute: every segment now (the app also does it when stale); counts: as stored."""
    from crm_tui.services.segments import SEGMENTS, SegmentRules, SegmentService

    engine = _open_database(settings)
    if action == "recompute":
        _authorized(engine, settings, "change customer data", "recompute segments")
    else:
        _authorized(engine, settings, "read customer data", "count segments")
    service = SegmentService(engine, SegmentRules.from_settings(settings))
    extra: dict[str, Any]
    if action == "recompute":
        report = service.recompute_all()
        counts = report.counts
        extra = {"added": report.added, "removed": report.removed, "seconds": report.seconds}
    else:
        counts, computed = service.counts(), service.computed_at()
        extra = {"computed_at": computed.isoformat() if computed else None}
    if as_json:
        print(json.dumps({"counts": counts, **extra}))
        return 0
    for code, name in SEGMENTS.items():
        print(f"{name:<12} {counts.get(code, 0):>10,}")
    print(" · ".join(f"{key}: {value}" for key, value in extra.items()), file=sys.stderr)
    return 0


def _cmd_analytics(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from crm_tui.services import directory
    from crm_tui.services.analytics import compute_analytics

    start, end = _day(args.start, "--from"), _day(args.end, "--to")
    today = datetime.now(UTC).date()
    if start is not None and start > (end or today):
        raise CliError(f"--from {start} is after --to {end or today}: nothing lies between")
    try:
        filters = directory.filters_from_options(vars(args))
    except ValueError as error:
        raise CliError(str(error)) from None
    engine = _open_database(settings)
    _authorized(engine, settings, "read customer data", "read analytics")
    figures = compute_analytics(
        engine, start=start, end=end, filters=filters, search=args.query, today=today
    )
    if args.json:
        selection = {"search": args.query, "filters": _filters_json(filters)}
        print(json.dumps(figures.as_json() | selection, ensure_ascii=False, indent=2))
        return 0
    query = directory.DirectoryQuery(search=args.query, filters=filters)
    print("\n".join(_analytics_lines(figures, query.describe())))
    return 0


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option} {text!r} is not a date: write it as YYYY-MM-DD") from None


def _filters_json(filters: Any) -> dict[str, Any]:
    """The filters in force (those not at their default), dates in ISO form."""
    from dataclasses import fields

    chosen: dict[str, Any] = {}
    for spec in fields(filters):
        value = getattr(filters, spec.name)
        if value != spec.default and value != ():
            chosen[spec.name] = value.isoformat() if isinstance(value, date) else value
    return chosen


def _analytics_lines(figures: Any, selection: str) -> list[str]:
    """The figures as plain text, for a person (the JSON has the definitions)."""
    from crm_tui.formatting import format_money
    from crm_tui.services.analytics import DEFINITION_BY_KEY

    def line(key: str, value: object) -> str:
        return f"{DEFINITION_BY_KEY[key].title:<28}{value}"

    def rate(value: Any) -> str:
        if value.value is None:
            return "-"
        return f"{value.value:.1%} ({value.count:,} of {value.out_of:,})"

    def money(minor: int, currency: str) -> str:
        return format_money(minor, currency)

    averages = [
        f"{money(v.average_minor, v.currency)} ({v.customers:,} paying)"
        for v in figures.lifetime_value
    ]
    lines = [
        f"Analytics, {figures.start or 'from the start'} to {figures.end} (UTC): {selection}",
        line("total_customers", f"{figures.total_customers:,}"),
        line("active_customers", f"{figures.active_customers:,}"),
        line("inactive_customers", f"{figures.inactive_customers:,}"),
        line("churn_rate", rate(figures.churn)),
        line("payment_failure_rate", rate(figures.payment_failures)),
        line("mrr", " · ".join(money(m.amount_minor, m.currency) for m in figures.mrr) or "-"),
        line("lifetime_value", " · ".join(averages) or "-"),
        "",
        f"{'Month':<10}{'new':>12}{'customers':>14}",
    ]
    lines += [
        f"{m.month:%Y-%m}{m.customers:>15,}{g.customers:>14,}"
        for m, g in zip(figures.acquisition, figures.growth, strict=True)
    ]
    lines += ["", DEFINITION_BY_KEY["lifetime_value_distribution"].title]
    for bucket in figures.lifetime_value_distribution:
        low = money(bucket.low_minor, bucket.currency)
        high = money(bucket.high_minor, bucket.currency) if bucket.high_minor else "more"
        lines.append(f"  {f'{low} to {high}':<30}{bucket.customers:>12,}")
    lines += ["", DEFINITION_BY_KEY["segments"].title]
    lines += [f"  {s.name:<30}{s.customers:>12,}" for s in figures.segments]
    return lines


def _cmd_doctor(settings: Settings) -> int:
    from crm_tui.services.doctor import Status, exit_status, run_checks

    checks = run_checks(settings)
    for check in checks:
        print("\n".join(check.lines()))
    failed = sum(check.status == Status.FAILED for check in checks)
    warned = sum(check.status == Status.WARNING for check in checks)
    print(f"{failed} problem(s), {warned} warning(s)")
    return exit_status(checks)


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from crm_tui.serve import ServeOptions, serve

    engine = _open_database(settings)
    agent = _signed_in(engine, settings)  # refused here, not in each browser tab
    engine.dispose()
    flags = (("--demo",) if settings.demo else ()) + (("--readonly",) if args.readonly else ())
    options = ServeOptions(
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        app_arguments=flags,
        database_url=args.database_url,
    )
    serve(options, agent.username)
    return 0


def _cmd_agents(args: argparse.Namespace, settings: Settings) -> int:
    from crm_tui.models.enums import AgentRole
    from crm_tui.services import agents
    from crm_tui.services.permissions import NotAllowed

    engine = _open_database(settings)
    actor = _signed_in(engine, settings)
    try:
        match args.action:
            case "list":
                return _print_agents(agents.list_agents(engine), args.json)
            case "add":
                record = agents.add_agent(
                    engine,
                    actor,
                    args.username,
                    role=AgentRole(args.role),
                    display_name=args.name,
                    readonly=args.agent_readonly,
                )
            case "set-role":
                record = agents.set_role(engine, actor, args.username, AgentRole(args.role))
            case "disable" | "enable":
                record = agents.set_active(engine, actor, args.username, args.action == "enable")
            case _:
                record = agents.set_readonly(engine, actor, args.username, args.value == "on")
    except NotAllowed as error:
        raise CliError(error.message) from None
    except agents.AgentAdminError as error:
        raise CliError(str(error)) from None
    return _print_agents([record], False)


def _print_agents(records: Sequence[Any], as_json: bool) -> int:
    from crm_tui.text import safe_text

    for record in records:
        if as_json:
            print(json.dumps(record.as_json(), ensure_ascii=False))
            continue
        state = "active" if record.active else "disabled"
        if record.readonly:
            state += ", read-only"
        line = f"{record.username:<20} {record.role.value:<8} {state:<20} {record.display_name}"
        print(safe_text(line))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        command = (args.command, getattr(args, "action", None))
        match command:
            case (None, _):
                return _cmd_tui(settings)
            case ("demo", "seed"):
                return _cmd_demo_seed(args, settings)
            case ("db", "upgrade"):
                return _cmd_db_upgrade(settings)
            case ("customers", "search"):
                return _cmd_customers_search(args, settings)
            case ("customers", "show"):
                return _cmd_customers_show(args, settings)
            case ("import", "customers"):
                return _cmd_import_customers(args, settings)
            case ("export", "customers"):
                return _cmd_export_customers(args, settings)
            case ("reconcile", _):
                return _cmd_reconcile(settings)
            case ("secrets", "set"):
                return _cmd_secrets_set(args.secret_group)
            case ("sync", str(provider)):
                return _cmd_sync(provider, args.full, settings)
            case ("audit", "verify"):
                return _cmd_audit_verify(settings)
            case ("audit", "show"):
                return _cmd_audit_show(args, settings)
            case ("segments", str(action)):
                return _cmd_segments(action, args.json, settings)
            case ("agents", _):
                return _cmd_agents(args, settings)
            case ("doctor", _):
                return _cmd_doctor(settings)
            case ("analytics", _):
                return _cmd_analytics(args, settings)
            case ("serve", _):
                return _cmd_serve(args, settings)
    except (CliError, ConfigError) as error:
        print(f"crm-tui: {error}", file=sys.stderr)
        return 2
    except PermissionError as error:  # permissions.NotAllowed, or the OS refusing a file
        print(f"crm-tui: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")
