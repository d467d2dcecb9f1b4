"""`crm-tui doctor`: is this machine set up to work? Each check says what it found and,
when something is wrong, the fix — for an agent on a jump host, not a developer.

Checks: the database (reachable, migrated), the keyring (or the variables that stand
in for it), each payment provider's credentials (with a harmless test call), the
SMTP server (when email is configured), the terminal (size, colours) and, inside
tmux, the clipboard setting OSC 52 needs, and that the agent's files (data folder,
database file, settings) are not open to others on the machine. A failure makes
the command exit 1; a warning (works, but worse) does not.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy.engine import make_url

from crm_tui.config import Settings, config_dir, data_dir
from crm_tui.services.secrets import GROUPS, VARIABLES, Secrets, fallback_hint

TIMEOUT = 5.0  # seconds for each network check
PROVIDERS = ("Stripe", "PayPal")


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    found: str
    fix: str = ""

    def lines(self) -> list[str]:
        head = f"[{self.status.value:>7}] {self.name}: {self.found}"
        return [head] + ([f"          fix: {self.fix}"] if self.fix else [])


def run_checks(
    settings: Settings,
    secrets: Secrets | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Check]:
    secrets = secrets or Secrets()
    env = os.environ if environ is None else environ
    checks: list[Callable[[], Check]] = [
        lambda: database(settings),
        lambda: keyring(secrets),
        lambda: stripe(settings, secrets),
        lambda: paypal(settings, secrets),
        lambda: smtp(settings),
        lambda: terminal(env),
        lambda: tmux_clipboard(env),
        lambda: private_files(settings),
    ]
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as error:  # a check that breaks is itself a finding
            results.append(Check("check", Status.FAILED, f"{type(error).__name__}: {error}"))
    return _one_provider_is_enough(results)


def _one_provider_is_enough(results: list[Check]) -> list[Check]:
    """A business on Stripe alone is set up: the provider it does not use is a warning.
    With no provider configured at all, both stay failures."""
    unconfigured = [r for r in results if r.name in PROVIDERS and r.found.startswith("no ")]
    if len(unconfigured) == len(PROVIDERS):
        return results
    return [
        Check(r.name, Status.WARNING, r.found + " (not used here?)", r.fix)
        if r in unconfigured
        else r
        for r in results
    ]


def database(settings: Settings) -> Check:
    from crm_tui.migrations import SCHEMA_REVISION
    from crm_tui.services.database import create_db_engine

    url = settings.resolved_database_url()
    shown = url.split("@")[-1] if "@" in url else url
    try:
        engine = create_db_engine(url)
        with engine.connect() as connection:
            import sqlalchemy as sa

            has_versions = sa.inspect(connection).has_table("alembic_version")
            revision = (
                connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                if has_versions
                else None
            )
        engine.dispose()
    except Exception as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        return Check(
            "database",
            Status.FAILED,
            f"cannot open {shown}: {reason}",
            "check --database-url / CRM_DATABASE_URL / database_url in config.toml, and that "
            "the server is up",
        )
    if revision != SCHEMA_REVISION:
        return Check(
            "database",
            Status.WARNING,
            f"{shown} is at {revision or 'no schema yet'}, the app expects {SCHEMA_REVISION}",
            "crm-tui db upgrade (the app also does it when it starts)",
        )
    return Check("database", Status.OK, f"{shown}, migrated ({revision})")


def keyring(secrets: Secrets) -> Check:
    usable, why = secrets.keyring_status()
    if usable:
        return Check("keyring", Status.OK, why)
    variables = [v for v in VARIABLES.values() if os.environ.get(v)]
    found = f"{why}; set instead: {', '.join(variables) or 'none'}"
    return Check("keyring", Status.WARNING, found, fallback_hint())


def stripe(settings: Settings, secrets: Secrets) -> Check:
    key = secrets.get("stripe_api_key")
    if not key:
        return Check("Stripe", Status.FAILED, "no API key", _store(secrets, "stripe"))
    from crm_tui.services.providers.base import ProviderError
    from crm_tui.services.providers.stripe import StripeProvider

    provider = StripeProvider(key, api_base=settings.stripe_api_base, timeout=TIMEOUT)
    try:
        provider.call(lambda: provider.api.customers.list({"limit": 1}))
    except ProviderError as error:
        return Check("Stripe", Status.FAILED, error.message, "check the key, and the network")
    return Check("Stripe", Status.OK, f"the API key works ({settings.stripe_api_base})")


def _store(secrets: Secrets, group: str) -> str:
    """How to give the credentials: the keyring where there is one, else variables."""
    variables = " and ".join(VARIABLES[name] for name in GROUPS[group])
    if secrets.keyring_status()[0]:
        return f"crm-tui secrets set {group} (or set {variables})"
    return (
        f"no keyring here: export {variables} from a file only you can read (chmod 600) "
        "that your shell profile sources"
    )


def paypal(settings: Settings, secrets: Secrets) -> Check:
    client_id, secret = secrets.get("paypal_client_id"), secrets.get("paypal_client_secret")
    if not (client_id and secret):
        return Check("PayPal", Status.FAILED, "no client id and secret", _store(secrets, "paypal"))
    from crm_tui.services.providers.base import ProviderError
    from crm_tui.services.providers.paypal import PayPalProvider

    provider = PayPalProvider(settings.paypal_api_base, client_id, secret, timeout=TIMEOUT)
    try:
        provider._access_token()  # signing in is the harmless call
    except ProviderError as error:
        return Check("PayPal", Status.FAILED, error.message, "check the id and secret")
    finally:
        provider.close()
    return Check("PayPal", Status.OK, f"signed in ({settings.paypal_api_base})")


def smtp(settings: Settings) -> Check:
    if not settings.smtp_host:
        return Check(
            "email",
            Status.WARNING,
            "off: no [smtp] host in config.toml (invoices and links cannot be emailed)",
            "add [smtp] host, port and sender to config.toml, then crm-tui secrets set smtp",
        )
    try:
        with socket.create_connection((settings.smtp_host, settings.smtp_port), TIMEOUT) as sock:
            greeting = sock.recv(512).decode("ascii", "replace").strip()
    except OSError as error:
        return Check(
            "email",
            Status.FAILED,
            f"{settings.smtp_host}:{settings.smtp_port} cannot be reached ({error})",
            "check [smtp] host and port, and that this machine may reach it",
        )
    if not greeting.startswith("220"):
        return Check("email", Status.FAILED, f"not an SMTP server: {greeting[:60]!r}")
    return Check("email", Status.OK, f"{settings.smtp_host}:{settings.smtp_port} answers")


def terminal(env: Mapping[str, str]) -> Check:
    size = shutil.get_terminal_size(fallback=(0, 0))
    colours = "no colour (NO_COLOR)" if env.get("NO_COLOR") else _colours(env)
    shape = f"{size.columns}x{size.lines}" if size.columns else "not a terminal (piped)"
    found = f"{shape}, TERM={env.get('TERM', '') or 'unset'}, {colours}"
    if size.columns and (size.columns < 80 or size.lines < 24):
        return Check("terminal", Status.WARNING, found, "make the window at least 80x24")
    if not env.get("TERM") or env.get("TERM") == "dumb":
        return Check(
            "terminal", Status.WARNING, found, "export TERM=xterm-256color (or tmux-256color)"
        )
    return Check("terminal", Status.OK, found)


def _colours(env: Mapping[str, str]) -> str:
    if env.get("COLORTERM", "") in {"truecolor", "24bit"}:
        return "true colour"
    return "256 colours" if "256color" in env.get("TERM", "") else "16 colours"


def tmux_clipboard(env: Mapping[str, str]) -> Check:
    if not env.get("TMUX"):
        return Check("tmux", Status.OK, "not inside tmux (copying uses OSC 52 directly)")
    answer = _run(["tmux", "show-options", "-gv", "set-clipboard"])
    if answer in {"on", "external"}:
        return Check("tmux", Status.OK, f"set-clipboard {answer}: copying reaches your machine")
    return Check(
        "tmux",
        Status.WARNING,
        f"set-clipboard is {answer or 'unknown'}: copied emails and ids stay in tmux",
        "add `set -g set-clipboard on` to ~/.tmux.conf, then tmux source ~/.tmux.conf",
    )


def private_files(settings: Settings) -> Check:
    """On a shared jump host the agent's files are theirs alone: the data folder and a
    SQLite database hold customers' personal data (a failure when others can read
    them); the config folder and config.toml name servers and logins (a warning)."""
    personal = [data_dir()]
    database = make_url(settings.resolved_database_url())
    if database.get_backend_name() == "sqlite" and database.database:
        personal += [Path(database.database).parent, Path(database.database)]
    settings_files = [config_dir(), *([settings.config_path] if settings.config_path else [])]
    exposed = [p for p in personal if _open_to_others(p)]
    loose = [p for p in settings_files if _open_to_others(p)]
    if not exposed and not loose:
        return Check("files", Status.OK, "data and settings are readable by you alone")
    found = "others on this machine can read " + ", ".join(
        f"{path} ({path.stat().st_mode & 0o777:o})" for path in exposed + loose
    )
    fix = "; ".join(f"chmod {700 if p.is_dir() else 600} {p}" for p in exposed + loose)
    return Check("files", Status.FAILED if exposed else Status.WARNING, found, fix)


def _open_to_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:  # not there (yet): nothing to read
        return False


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def exit_status(checks: list[Check]) -> int:
    return 1 if any(check.status == Status.FAILED for check in checks) else 0
