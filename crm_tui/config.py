"""Settings: defaults, then `config.toml`, then `CRM_*` environment variables, then flags.

Paths follow platformdirs, so the app behaves like a good citizen on a shared jump
host: config in ~/.config/crm-tui, data (the SQLite file) in ~/.local/share/crm-tui.
Secrets never live here: they come from the OS keyring or the `CRM_*` variables.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

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
    theme: str = "textual-dark"
    timezone: str = ""  # empty: the machine's local timezone
    stripe_api_base: str = "https://api.stripe.com"
    paypal_api_base: str = "https://api-m.paypal.com"
    refund_window_days: int = 0  # 0: no window
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
}


def _coerce(name: str, value: Any, source: str) -> Any:
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
        raise ConfigError(f"{source}: {name} = {value!r} is not a valid {kind}") from None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        # tomllib's message carries "(at line N, column M)".
        raise ConfigError(f"{path}: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None


def load_settings(
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Build the settings from the config file, the environment and the flags, in that order."""
    env = os.environ if environ is None else environ
    path = config_path or Path(env.get("CRM_CONFIG", "") or config_dir() / CONFIG_FILE_NAME)
    document = _read_config_file(path)
    values: dict[str, Any] = {}
    known = set(_SCALAR_KEYS) | {"keymap"}
    for key, value in document.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown setting {key!r}")
        if key == "keymap":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError(
                    f'{path}: [keymap] maps binding ids to keys, e.g. quit = "ctrl+q"'
                )
            values["keymap"] = dict(value)
        else:
            values[key] = _coerce(key, value, str(path))
    for key, variable in _SCALAR_KEYS.items():
        if variable in env:
            values[key] = _coerce(key, env[variable], variable)
    for key, value in (flags or {}).items():
        if value is not None:
            values[key] = value
    return replace(Settings(), config_path=path, **values)
