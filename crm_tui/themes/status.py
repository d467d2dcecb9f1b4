"""The status colours: one CSS variable per status, `$status-<name>`, in every theme.

Widgets draw statuses with these variables (`color: $status-failed`), never with
`$success` / `$error`, so a theme can make "past due" and "failed" differ and meet
its own contrast. The profile's tabs are Rich renderables, which cannot read CSS
variables: `rich_status_theme` gives them the same colours as named Rich styles.
"""

from __future__ import annotations

from rich.style import Style
from rich.theme import Theme as RichTheme
from textual.color import Color, ColorParseError
from textual.theme import Theme

# Every theme defines `status-<name>` for each of these.
STATUS_NAMES = (
    "active",  # a customer or subscription in good standing
    "trial",  # a subscription in its trial
    "past-due",  # a subscription whose payment failed, in its grace period
    "paused",
    "cancelled",  # a subscription cancelled (or expired)
    "refunded",  # a payment refunded, in full or in part
    "failed",  # a payment that failed
    "pending",  # a payment not settled yet
    "inactive",  # a customer with no live subscription
    "churned",  # a customer who left
    "blocked",  # an account blocked or deactivated by an agent
)

# For themes that do not define them (Textual's own: textual-dark, nord, ...): the
# theme's own text colours, which Textual already makes readable on its background.
_FALLBACKS = {
    "active": "text-success",
    "trial": "text-primary",
    "past-due": "text-warning",
    "paused": "foreground-darken-2",
    "cancelled": "text-error",
    "refunded": "text-secondary",
    "failed": "text-error",
    "pending": "text-warning",
    "inactive": "foreground-darken-2",
    "churned": "text-warning",
    "blocked": "text-error",
}


def status_variable(name: str) -> str:
    """'past-due' → 'status-past-due', the CSS variable of that status."""
    return f"status-{name}"


def status_style(name: str) -> str:
    """The named Rich style of a status, for Rich renderables (see rich_status_theme)."""
    return f"crm.status-{name}"


def status_fallbacks(theme: Theme) -> dict[str, str]:
    """Status variables derived from `theme`'s own colours: what a theme that does
    not define them gets (Textual refuses CSS that names an undefined variable)."""
    colours = theme.to_color_system().generate()
    return {status_variable(name): colours[_FALLBACKS[name]] for name in STATUS_NAMES}


def status_colours(theme: Theme) -> dict[str, str]:
    """Every status variable of `theme`: its own, else the fallback."""
    return status_fallbacks(theme) | {
        key: value for key, value in theme.variables.items() if key.startswith("status-")
    }


def rich_status_theme(theme: Theme) -> RichTheme:
    """`crm.status-<name>` Rich styles in `theme`'s status colours."""
    colours = status_colours(theme)
    styles: dict[str, Style] = {}
    for name in STATUS_NAMES:
        try:
            colour = Color.parse(colours[status_variable(name)])
        except ColorParseError:  # e.g. "auto 60%": needs a background Rich cannot know
            continue
        styles[status_style(name)] = Style(color=colour.rich_color)
    return RichTheme(styles, inherit=False)
