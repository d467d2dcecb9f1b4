"""Settings: defaults, then `config.toml`, then `CRM_*` environment variables, then flags.

Paths follow platformdirs, so the app behaves like a good citizen on a shared jump
host: config in ~/.config/crm-tui, data (the SQLite file) in ~/.local/share/crm-tui.
Secrets never live here: they come from the OS keyring or the `CRM_*` variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from crm_tui.time_zones import zone_named

APP_NAME = "crm-tui"
CONFIG_FILE_NAME = "config.toml"
DEMO_DATABASE_NAME = "demo.sqlite3"
DEFAULT_DATABASE_NAME = "crm.sqlite3"
DEMO_CUSTOMERS = 5_000


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and what is wrong."""


def config_dir() -> Path:
    override = os.environ.get("CRM_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    override = os.environ.get("CRM_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    demo: bool = False
    readonly: bool = False
    theme: str = "crm-dark"  # crm_tui/themes: crm-dark, crm-light, crm-high-contrast, crm-ansi
    timezone: str = ""  # empty: the machine's local timezone
    stripe_api_base: str = "https://api.stripe.com"
    paypal_api_base: str = "https://api-m.paypal.com"
    refund_window_days: int = 0  # 0: no window
    # Where Stripe's billing portal sends the customer back to ("": Stripe's default).
    billing_portal_return_url: str = ""
    # Outgoing mail ([smtp] in config.toml); no host: sending email is off. The
    # password is a secret: `crm-tui secrets set smtp` or CRM_SMTP_PASSWORD.
    smtp_host: str = ""
    smtp_port: int = 587  # submission; STARTTLS upgrades the connection
    smtp_starttls: bool = True
    smtp_sender: str = ""  # the From address; required when a host is set
    smtp_username: str = ""  # "": no login
    # Segment rules ([segments] in config.toml; services/segments.py says what each means).
    segments_new_days: int = 30  # New: registered in the last N days
    segments_loyal_months: int = 6  # Loyal: subscribed N+ months, no failed payment since
    segments_at_risk_failed_payment_days: int = 60  # At-risk: a payment failed in N days
    segments_at_risk_usage_drop_percent: int = 50  # At-risk: last month's usage down N%...
    segments_at_risk_usage_months: int = 3  # ...against the average of the N months before
    segments_high_value_percent: int = 10  # High-value: the top N% by lifetime value
    segments_churned_days: int = 90  # Churned: cancelled in the last N days
    # Two-person approvals ([approvals] in config.toml; services/approvals.py).
    # Per currency ("75000 JPY": amounts as typed in that currency); a bare amount
    # covers the currencies not listed; "" never asks. See refund_limits().
    approvals_refund_above: str = "500.00 USD, 500.00 EUR, 400.00 GBP, 75000 JPY"
    approvals_expiry_hours: int = 72  # a request nobody decided in time expires
    approvals_merges: bool = True  # a merge is asked for, and made by the approver
    # An approved erasure also deletes the customer at Stripe ([privacy] in config.toml).
    privacy_delete_at_provider: bool = False
    keymap: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None

    def resolved_database_url(self) -> str:
        """The database to open: the flag/env/config value, else the demo or default file."""
        if self.database_url:
            return self.database_url
        name = DEMO_DATABASE_NAME if self.demo else DEFAULT_DATABASE_NAME
        return sqlite_url(data_dir() / name)


# Keys of config.toml and the CRM_* variables that set them.
_SCALAR_KEYS = {
    "database_url": "CRM_DATABASE_URL",
    "readonly": "CRM_READONLY",
    "theme": "CRM_THEME",
    "timezone": "CRM_TIMEZONE",
    "stripe_api_base": "CRM_STRIPE_API_BASE",
    "paypal_api_base": "CRM_PAYPAL_API_BASE",
    "refund_window_days": "CRM_REFUND_WINDOW_DAYS",
    "billing_portal_return_url": "CRM_BILLING_PORTAL_RETURN_URL",
}
# Tables of config.toml, flattened into `<table>_<key>` fields: [smtp] host → smtp_host.
_TABLE_KEYS = {
    "smtp": {
        "host": "CRM_SMTP_HOST",
        "port": "CRM_SMTP_PORT",
        "starttls": "CRM_SMTP_STARTTLS",
        "sender": "CRM_SMTP_SENDER",
        "username": "CRM_SMTP_USERNAME",
    },
    "approvals": {
        "refund_above": "CRM_APPROVALS_REFUND_ABOVE",
        "expiry_hours": "CRM_APPROVALS_EXPIRY_HOURS",
        "merges": "CRM_APPROVALS_MERGES",
    },
    "privacy": {"delete_at_provider": "CRM_PRIVACY_DELETE_AT_PROVIDER"},
    "segments": {
        "new_days": "CRM_SEGMENTS_NEW_DAYS",
        "loyal_months": "CRM_SEGMENTS_LOYAL_MONTHS",
        "at_risk_failed_payment_days": "CRM_SEGMENTS_AT_RISK_FAILED_PAYMENT_DAYS",
        "at_risk_usage_drop_percent": "CRM_SEGMENTS_AT_RISK_USAGE_DROP_PERCENT",
        "at_risk_usage_months": "CRM_SEGMENTS_AT_RISK_USAGE_MONTHS",
        "high_value_percent": "CRM_SEGMENTS_HIGH_VALUE_PERCENT",
        "churned_days": "CRM_SEGMENTS_CHURNED_DAYS",
    },
}
# The range each [segments] setting must lie in, and what its unit is.
_SEGMENT_RANGES = {
    "new_days": (1, 3650, "days"),
    "loyal_months": (1, 120, "months"),
    "at_risk_failed_payment_days": (1, 3650, "days"),
    "at_risk_usage_drop_percent": (1, 100, "percent"),
    "at_risk_usage_months": (1, 24, "months"),
    "high_value_percent": (1, 100, "percent"),
    "churned_days": (1, 3650, "days"),
}
# Every field the environment can set, with its variable.
_ENV_KEYS = _SCALAR_KEYS | {
    f"{table}_{key}": variable
    for table, keys in _TABLE_KEYS.items()
    for key, variable in keys.items()
}
# One address, no display name: local@domain.tld. No spaces, controls, line breaks,
# or the separators of address lists, so it can never split or extend a mail header.
_ADDRESS_CHAR = r"[^@\s\x00-\x1f\x7f<>,;\"()\[\]]"
_ADDRESS = re.compile(rf"{_ADDRESS_CHAR}+@{_ADDRESS_CHAR}+\.(?:(?!\.){_ADDRESS_CHAR})+")


_LIMIT = re.compile(r"(\d{1,12}(?:\.\d{1,3})?)(?:\s+([A-Za-z]{3}))?")


def refund_limits(text: str) -> dict[str, str]:
    """'500.00 USD, 75000 JPY, 450' → {'USD': '500.00', 'JPY': '75000', '*': '450'}:
    above which amount (as typed in that currency) a refund needs an approval; '*'
    is every other currency. ValueError names the part that is not one."""
    limits: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        match = _LIMIT.fullmatch(part)
        if match is None:
            raise ValueError(f"{part!r} is not an amount with an optional currency code")
        limits[(match.group(2) or "*").upper()] = match.group(1)
    return limits


def looks_like_address(text: str) -> bool:
    """A plain mail address (user@example.com): no spaces, no line breaks, one @."""
    return _ADDRESS.fullmatch(text) is not None


def _coerce(name: str, value: Any, source: str, label: str = "") -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except ValueError:
        raise ConfigError(f"{source}: {label or name} = {value!r} is not a valid {kind}") from None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        # tomllib's message carries "(at line N, column M)".
        raise ConfigError(f"{path}: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None


class _Lines:
    """Where in config.toml a key is written, so that an error names its line."""

    _HEADER = re.compile(r"\s*\[\s*([A-Za-z0-9_.\"-]+)\s*\]")

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            self.lines = []

    def at(self, key: str, table: str = "") -> str:
        """'FILE, line N' for `key` (in `[table]`), or 'FILE' if it cannot be found."""
        current = ""
        assignment = re.compile(rf"\s*\"?{re.escape(key)}\"?\s*=")
        for number, line in enumerate(self.lines, start=1):
            header = self._HEADER.match(line)
            if header:
                current = header.group(1).strip('"')
            elif current == table and assignment.match(line):  # table "": the top level
                return f"{self.path}, line {number}"
        return str(self.path)

    def at_table(self, table: str) -> str:
        for number, line in enumerate(self.lines, start=1):
            header = self._HEADER.match(line)
            if header and header.group(1).strip('"') == table:
                return f"{self.path}, line {number}"
        return self.at(table)


def _read_table(
    table: str, value: Any, lines: _Lines, values: dict[str, Any], sources: dict[str, str]
) -> None:
    """A table of config.toml ([smtp]) into its flattened fields."""
    keys = _TABLE_KEYS[table]
    if not isinstance(value, dict):
        raise ConfigError(f"{lines.at(table)}: {table} must be a table, e.g. [{table}] host = ...")
    for key, item in value.items():
        where = lines.at(key, table)
        if key == "password" and table == "smtp":  # never echo the value: it is a secret
            raise ConfigError(
                f"{where}: [{table}] password does not belong in a config file; store it "
                f"with `crm-tui secrets set {table}` or set CRM_SMTP_PASSWORD"
            )
        if key not in keys:
            raise ConfigError(f"{where}: unknown setting '{table}.{key}'")
        name = f"{table}_{key}"
        values[name] = _coerce(name, item, where, label=f"{table}.{key}")
        sources[name] = where


def _validate(settings: Settings, sources: dict[str, str]) -> None:
    """Checks across values; the message names where the offending value came from."""

    def where(name: str) -> str:
        return sources.get(name, "settings")

    if not 1 <= settings.smtp_port <= 65535:
        raise ConfigError(
            f"{where('smtp_port')}: smtp.port = {settings.smtp_port} is not a port (1–65535)"
        )
    if settings.smtp_sender and not looks_like_address(settings.smtp_sender):
        raise ConfigError(
            f"{where('smtp_sender')}: smtp.sender = {settings.smtp_sender!r} is not a mail "
            "address (expected something like support@example.com)"
        )
    if settings.smtp_host and not settings.smtp_sender:
        raise ConfigError(
            f"{where('smtp_host')}: smtp.host is set but smtp.sender is not: add "
            'sender = "support@example.com" to [smtp] (or set CRM_SMTP_SENDER)'
        )
    for key, (low, high, unit) in _SEGMENT_RANGES.items():
        name = f"segments_{key}"
        value = getattr(settings, name)
        if not low <= value <= high:
            raise ConfigError(
                f"{where(name)}: segments.{key} = {value} is out of range ({low}–{high} {unit})"
            )
    try:
        refund_limits(settings.approvals_refund_above)
    except ValueError as error:
        raise ConfigError(
            f"{where('approvals_refund_above')}: approvals.refund_above = "
            f'{settings.approvals_refund_above!r}: {error} (e.g. "500.00 USD, 75000 JPY"; '
            '"" for never)'
        ) from None
    if not 1 <= settings.approvals_expiry_hours <= 24 * 90:
        raise ConfigError(
            f"{where('approvals_expiry_hours')}: approvals.expiry_hours = "
            f"{settings.approvals_expiry_hours} is out of range (1–2160 hours)"
        )
    if settings.timezone and zone_named(settings.timezone) is None:
        raise ConfigError(
            f"{where('timezone')}: timezone = {settings.timezone!r} is not a time zone "
            '(an IANA name such as "Europe/Berlin" or "America/New_York"; "" for this machine\'s)'
        )
    url = settings.billing_portal_return_url
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(
            f"{where('billing_portal_return_url')}: billing_portal_return_url = {url!r} "
            "is not a web address (https://...)"
        )


def load_settings(
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Build the settings from the config file, the environment and the flags, in that order."""
    env = os.environ if environ is None else environ
    path = config_path or Path(env.get("CRM_CONFIG", "") or config_dir() / CONFIG_FILE_NAME)
    document = _read_config_file(path)
    lines = _Lines(path) if document else None
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}  # field → the file (and line) or variable that set it
    known = set(_SCALAR_KEYS) | set(_TABLE_KEYS) | {"keymap"}
    for key, value in document.items():
        assert lines is not None
        where = lines.at_table(key) if isinstance(value, dict) else lines.at(key)
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        if key in _TABLE_KEYS:
            _read_table(key, value, lines, values, sources)
        elif key == "keymap":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError(
                    f'{where}: [keymap] maps binding ids to keys, e.g. quit = "ctrl+q"'
                )
            values["keymap"] = dict(value)
        else:
            values[key] = _coerce(key, value, where)
            sources[key] = where
    for key, variable in _ENV_KEYS.items():
        if variable in env:
            values[key] = _coerce(key, env[variable], variable)
            sources[key] = variable
    for key, value in (flags or {}).items():
        if value is not None:
            values[key] = value
            sources[key] = f"--{key.replace('_', '-')}"
    settings = replace(Settings(), config_path=path, **values)
    _validate(settings, sources)
    return settings


# ------------------------------------------------------------- saving the theme

_TOP_LEVEL_THEME = re.compile(
    r"""(?P<key>[ \t]*(?:theme|"theme"|'theme')[ \t]*=[ \t]*)"""
    r"""(?P<value>"(?:[^"\\\r\n]|\\.)*"|'[^'\r\n]*')"""
)
_TABLE_HEADER = re.compile(r"[ \t]*\[")
_COMMENT_OR_BLANK = re.compile(r"[ \t]*(?:#.*)?\r?\n?")


def save_theme(path: Path, theme: str) -> None:
    """Remember the agent's theme: `theme = "..."` in config.toml, and nothing else of
    the file changed (comments, order, spacing, line endings stay byte for byte).

    A missing file is created (0600, in a 0700 folder). A file that is not valid TOML
    is left alone: ConfigError says why, as it does when the file cannot be written."""
    try:
        original = path.read_bytes()
    except FileNotFoundError:
        original = b""
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    text = _decoded(path, original)
    updated = _with_theme(text, theme)
    _check_only_theme_changed(path, text, updated, theme)
    _replace_file(path, updated.encode("utf-8"))


def _decoded(path: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
        tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text; the theme was not saved") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}; the theme was not saved") from None
    return text


def _with_theme(text: str, theme: str) -> str:
    """`text` with its top-level theme set to `theme`: the value replaced in place,
    or a new line after the last top-level setting (TOML wants them before any table)."""
    value = json.dumps(theme)  # a JSON string is a TOML basic string
    lines = text.splitlines(keepends=True)
    first_table = next((n for n, line in enumerate(lines) if _TABLE_HEADER.match(line)), len(lines))
    for number, line in enumerate(lines[:first_table]):
        match = _TOP_LEVEL_THEME.match(line)
        if match:
            lines[number] = match["key"] + value + line[match.end() :]
            return "".join(lines)
    at = first_table
    if first_table < len(lines):  # not among the comments that lead into the first table
        while at > 0 and _COMMENT_OR_BLANK.fullmatch(lines[at - 1]):
            at -= 1
    newline = "\r\n" if "\r\n" in text else "\n"
    if at > 0 and not lines[at - 1].endswith("\n"):
        lines[at - 1] += newline
    lines.insert(at, f"theme = {value}{newline}")
    return "".join(lines)


def _check_only_theme_changed(path: Path, before: str, after: str, theme: str) -> None:
    """A layout the line edit misread (a multi-line value, say) must not reach the disk."""
    if _loads_or_none(after) != tomllib.loads(before) | {"theme": theme}:
        raise ConfigError(f"{path}: cannot set the theme without rewriting the file; not saved")


def _loads_or_none(text: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _replace_file(path: Path, data: bytes) -> None:
    """Write `data` to a new file beside the target and rename it over: a crash leaves
    the old file or the new one, never half of one. A symlinked config stays a link."""
    target = path.resolve()
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".config-")  # 0600
    except OSError as error:
        raise ConfigError(f"{path}: cannot be written ({error.strerror})") from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise ConfigError(f"{path}: cannot be written ({error.strerror})") from None
