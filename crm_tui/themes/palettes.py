"""The app's four themes. Each defines every status colour of status.py.

Status colours are chosen for contrast with the theme's background and surface:
at least 4.5:1 (WCAG AA) in crm-dark and crm-light, at least 7:1 (AAA) in
crm-high-contrast (tests/unit/test_theme_config.py measures them). Statuses that
mean the same to an agent share a colour: amber is "needs attention" (past due,
pending, churned), red is "stopped" (failed, cancelled, blocked).
"""

from __future__ import annotations

from dataclasses import replace

from textual.theme import BUILTIN_THEMES, Theme


def _statuses(
    *, good: str, trial: str, attention: str, stopped: str, refunded: str, muted: str
) -> dict[str, str]:
    return {
        "status-active": good,
        "status-trial": trial,
        "status-past-due": attention,
        "status-paused": muted,
        "status-cancelled": stopped,
        "status-refunded": refunded,
        "status-failed": stopped,
        "status-pending": attention,
        "status-inactive": muted,
        "status-churned": attention,
        "status-blocked": stopped,
    }


# Textual's own dark theme with status colours: the rest of the screen looks as it
# always has. (textual-dark's $error, #B93C5B, is only 3.4:1 on its background.)
CRM_DARK = replace(
    BUILTIN_THEMES["textual-dark"],
    name="crm-dark",
    variables=_statuses(
        good="#4EBF71",
        trial="#57A5E2",
        attention="#FEA62B",
        stopped="#F0717F",
        refunded="#C792EA",
        muted="#A0A0A0",  # what textual-dark's $text-muted comes to on its background
    ),
)

# Near-white background with darker status colours than a dark theme can use.
CRM_LIGHT = Theme(
    name="crm-light",
    dark=False,
    primary="#005A9E",
    secondary="#0178D4",
    accent="#9C4A00",
    warning="#8A4B00",
    error="#A61B2B",
    success="#1B6E34",
    foreground="#1F1F1F",
    background="#F4F4F4",
    surface="#FFFFFF",
    panel="#E3E7EC",
    variables=_statuses(
        good="#1B6E34",
        trial="#0B5394",
        attention="#8A4B00",
        stopped="#A61B2B",
        refunded="#6A3D9A",
        muted="#555555",
    ),
)

# Pure black and white; bright status colours, each of the five an agent reads most
# (active, trial, past due, cancelled, refunded) in its own hue.
CRM_HIGH_CONTRAST = Theme(
    name="crm-high-contrast",
    primary="#FFFFFF",
    secondary="#FFFF00",
    accent="#FFFF00",
    warning="#FFFF00",
    error="#FF6666",
    success="#00FF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#000000",
    text_alpha=1.0,  # text at full strength, not blended into the background
    variables={
        **_statuses(
            good="#00FF00",
            trial="#00FFFF",
            attention="#FFFF00",
            stopped="#FF6666",
            refunded="#FF77FF",
            muted="#C0C0C0",
        ),
        # Muted text stays 8:1 or more on black (white or black, whichever contrasts).
        "text-muted": "auto 80%",
        "text-disabled": "auto 65%",
        "block-cursor-foreground": "#000000",
        "block-cursor-background": "#FFFFFF",
        "input-cursor-foreground": "#000000",
        "input-cursor-background": "#FFFFFF",
        "footer-key-foreground": "#FFFF00",
    },
)

# The terminal's own palette: Textual's ansi-dark (colours sent as ANSI numbers, which
# the terminal maps to its own scheme), with statuses in ANSI colours too. Muted
# statuses take the default colour: bright black is the background in some schemes.
_ANSI = BUILTIN_THEMES["ansi-dark"]
CRM_ANSI = replace(
    _ANSI,
    name="crm-ansi",
    variables={
        **_ANSI.variables,
        **_statuses(
            good="ansi_green",
            trial="ansi_cyan",
            attention="ansi_yellow",
            stopped="ansi_red",
            refunded="ansi_magenta",
            muted="ansi_default",
        ),
    },
)

THEMES = (CRM_DARK, CRM_LIGHT, CRM_HIGH_CONTRAST, CRM_ANSI)
DEFAULT_THEME = CRM_DARK.name
