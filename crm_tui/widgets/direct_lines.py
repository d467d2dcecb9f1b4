"""Drawing a Line API widget's lines without Textual's styles cache.

Textual's styles cache keys a widget's lines by their y, so a list that scrolls by
one row re-styles every visible line (~60 µs each: 3 ms a frame at 50 rows). Our
list widgets cache their strips by row and give them their own background; the
line filters cache their output on each strip, so a scrolled frame costs a few
look-ups. The price: such a widget takes no border, padding, tint or opacity.
"""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


def render_direct_lines(widget: Widget, crop: Region) -> list[Strip]:
    """`widget.render_line(y)` for the lines in `crop`, through the app's line filters."""
    filters = widget.get_line_filters()
    background = widget.background_colors[1]
    strips: list[Strip] = []
    for y in crop.line_range:
        strip = widget.render_line(y)
        for line_filter in filters:
            strip = strip.apply_filter(line_filter, background)
        strips.append(strip)
    if crop.column_span != (0, widget.size.width):
        strips = [strip.crop(*crop.column_span) for strip in strips]
    return strips
