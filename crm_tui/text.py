"""Making customer-supplied text safe to put on a terminal.

Customer data is text, never markup, and it never reaches the terminal raw: control
characters (C0, DEL, C1 — which include ESC and the start of OSC/CSI sequences),
bidi overrides and isolates, and invisible format characters are replaced by a
visible escape such as `‹U+202E›`, so an agent sees that something odd is there
and the screen cannot be garbled or spoofed. Used by widgets and exports alike;
imports nothing from textual.
"""

from __future__ import annotations

import re
import unicodedata

# C0 controls (minus nothing: tab and newline are also escaped in single-line cells),
# DEL, C1 controls, bidi embeddings/overrides/isolates, zero-width and other
# invisible format characters, line/paragraph separators, and the BOM.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\t":
        return " "
    if char in "\n\r\u2028\u2029":
        return "⏎"
    return f"‹U+{ord(char):04X}›"


def safe_text(value: object) -> str:
    """`value` as a single line that is safe to draw: every unsafe character made visible."""
    text = "" if value is None else str(value)
    text = _UNSAFE.sub(_escape, text)
    # Unassigned code points and lone surrogates are also drawn as escapes.
    if not text.isprintable():
        text = "".join(
            c
            if c.isprintable() or unicodedata.category(c) in {"Zs", "Mn", "Mc", "Me", "So"}
            else f"‹U+{ord(c):04X}›"
            for c in text
        )
    return text
