"""The app's stylesheet and themes: crm-dark (the default), crm-light,
crm-high-contrast and crm-ansi (the terminal's own palette). Statuses are drawn in
the `$status-*` colours every theme defines (status.py), not the semantic ones."""

from __future__ import annotations

from pathlib import Path

from crm_tui.themes.palettes import DEFAULT_THEME, THEMES
from crm_tui.themes.status import (
    STATUS_NAMES,
    rich_status_theme,
    status_fallbacks,
    status_style,
)

STYLESHEET = Path(__file__).with_name("app.tcss")

__all__ = [
    "DEFAULT_THEME",
    "STATUS_NAMES",
    "STYLESHEET",
    "THEMES",
    "rich_status_theme",
    "status_fallbacks",
    "status_style",
]
