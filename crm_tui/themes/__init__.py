"""The app's stylesheet and themes. Customer statuses use the theme's own semantic colours."""

from __future__ import annotations

from pathlib import Path

STYLESHEET = Path(__file__).with_name("app.tcss")
