"""Analytics (`I` in the directory, or the palette): the numbers behind the queues.

The figures are those of `services/analytics.py`, for the customers the directory's
search and filters select, over a date range typed at the top (enter applies it; an
empty "from" starts with the first customer). Key figures first, then charts drawn
with plotext: acquisition per month, growth, the lifetime-value distribution (one
currency at a time: `c` moves to the next), segment sizes and active vs inactive.
`?` lists each figure's definition beside the keys. Computed in a thread: a million
customers take a couple of seconds and the screen stays live meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static
from textual_plotext import PlotextPlot

from crm_tui.formatting import format_money
from crm_tui.services.analytics import DEFINITIONS, Analytics, Rate, compute_analytics
from crm_tui.services.directory import DirectoryQuery
from crm_tui.text import safe_text

PLOTS = ("acquisition", "growth", "ltv")  # plotext: time series and a histogram
BARS = ("segments", "active")  # a few named counts: labelled text bars read better
MONTH_LABELS_AT_MOST = 6  # more month names than this overlap at 80 columns


def default_start(today: date) -> date:
    """The first day of the month eleven months back: the last twelve months."""
    months = today.year * 12 + today.month - 1 - 11
    return date(months // 12, months % 12 + 1, 1)


def parse_day(text: str, what: str) -> date | None:
    """'2026-01-31' → a date; '' → None; anything else: ValueError saying what to type."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def percent(rate: Rate) -> str:
    if rate.value is None:
        return "— (nobody to count)"
    return f"{rate.value:.1%} ({rate.count:,} of {rate.out_of:,})"


def figures_table(figures: Analytics) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    per_currency = ", ".join(
        f"{format_money(v.average_minor, v.currency)} ({v.customers:,} paid)"
        for v in figures.lifetime_value
    )
    mrr = ", ".join(format_money(m.amount_minor, m.currency) for m in figures.mrr)
    rows = [
        ("Customers", f"{figures.total_customers:,}"),
        ("Active / inactive", f"{figures.active_customers:,} / {figures.inactive_customers:,}"),
        ("MRR", mrr or "—"),
        ("Average LTV", per_currency or "—"),
        ("Churn rate", percent(figures.churn)),
        ("Payment failures", percent(figures.payment_failures)),
        ("New in range", f"{sum(m.customers for m in figures.acquisition):,}"),
    ]
    for label, value in rows:
        table.add_row(Text(label), Text(value))
    return table


def month_ticks(months: Sequence[date]) -> tuple[list[int], list[str]]:
    """At most a few month labels, evenly spread, the last month always among them."""
    if not months:
        return [], []
    step = max(1, -(-len(months) // MONTH_LABELS_AT_MOST))
    positions = list(range(len(months) - 1, -1, -step))[::-1]
    return [p + 1 for p in positions], [f"{months[p]:%b %y}" for p in positions]


def bar_rows(
    title: str, rows: Sequence[tuple[str, int]], *, bar_width: int, empty: str, colour: str = ""
) -> RenderableType:
    """A horizontal bar per label, its count beside it, the longest bar `bar_width` wide."""
    if not rows:
        return Group(Text(title, style="bold"), Text(empty, style="italic"))
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    highest = max(count for _label, count in rows) or 1
    for label, count in rows:
        cells = round(bar_width * count / highest)
        bar = "█" * cells if cells or not count else "▏"  # a few customers still show
        table.add_row(Text(label), Text(bar, style=colour), Text(f"{count:,}"))
    return Group(Text(title, style="bold"), table)


def whole_number_axis(plt: Any, high: int, *, low: int = 0, axis: str = "y") -> None:
    """Counts on whole-number ticks (plotext would put 0.83 customers on the axis).
    The axis is never a single point: plotext divides by its length."""
    high = max(high, low + 1)
    step = max(1, -(-(high - low) // 5))
    ticks = list(range(low - low % step, high + step, step))
    if axis == "y":
        plt.yticks(ticks)
        plt.ylim(ticks[0], ticks[-1])
    else:
        plt.xticks(ticks)
        plt.xlim(ticks[0], ticks[-1])


def short_money(minor: int, currency: str) -> str:
    """A bucket edge in whole units: '$10', '€2k', '¥100k' (the edges run 1-2-5)."""
    text = format_money(minor, currency).removesuffix(".00")
    return text.replace(",000,000", "M").replace(",000", "k")


class AnalyticsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="analytics.back"),
        Binding("r", "range", "Date range", id="analytics.range"),
        Binding("c", "next_currency", "LTV currency", id="analytics.currency"),
        Binding("j", "scroll_down", "Down", show=False, id="analytics.down"),
        Binding("k", "scroll_up", "Up", show=False, id="analytics.up"),
        Binding("g", "scroll_home", "Top", show=False, id="analytics.top"),
        Binding("G", "scroll_end", "Bottom", show=False, id="analytics.bottom"),
        Binding("ctrl+r", "reload", "Recompute", show=False, id="analytics.reload"),
    ]
    DEFAULT_CSS = """
    AnalyticsScreen #range-row { height: 1; padding: 0 1; }
    AnalyticsScreen #range-row Label { width: auto; padding: 0 1 0 0; }
    AnalyticsScreen #range-row Input { width: 12; height: 1; border: none; padding: 0;
        background: $boost; margin: 0 2 0 0; }
    AnalyticsScreen #range-message { width: 1fr; color: $text-muted; }
    AnalyticsScreen #range-message.-error { color: $error; }
    AnalyticsScreen #figures { padding: 0 1; height: auto; }
    AnalyticsScreen #charts { layout: grid; grid-size: 1; grid-rows: 14; height: auto; }
    AnalyticsScreen #charts .bars { padding: 1 1 0 1; }
    AnalyticsScreen.-wide #charts { grid-size: 2; grid-gutter: 0 2; }
    """
    WIDE = 120  # columns from which two charts fit side by side

    def __init__(
        self,
        engine: Engine,
        query: DirectoryQuery,
        selection: str,
        today: Callable[[], date] | None = None,
    ) -> None:
        super().__init__()
        self.engine, self.selection = engine, selection
        self.directory_query = query  # (not `query`: Screen.query finds widgets)
        self.today = today or (lambda: datetime.now(UTC).date())
        self.figures: Analytics | None = None
        self.currency_index = 0

    def compose(self) -> ComposeResult:
        title = f"crm-tui · analytics · {self.selection}"
        yield Static(Text(safe_text(title), no_wrap=True), id="title-bar")
        with Horizontal(id="range-row"):
            yield Label("From")
            yield Input(default_start(self.today()).isoformat(), id="from", select_on_focus=False)
            yield Label("To")
            yield Input(self.today().isoformat(), id="to", select_on_focus=False)
            yield Static("", id="range-message")
        with VerticalScroll(id="analytics-body"):
            yield Static(Text("Computing…"), id="figures")
            with Container(id="charts"):
                for chart in PLOTS:
                    yield PlotextPlot(id=f"chart-{chart}")
                for chart in BARS:
                    yield Static(id=f"chart-{chart}", classes="bars")
        yield Footer()

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#analytics-body"))
        self._compute()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width >= self.WIDE, "-wide")

    def help_notes(self) -> list[tuple[str, str]]:
        """What `?` shows beside the keys: each figure's definition."""
        return [(d.title, d.text) for d in DEFINITIONS]

    # -------------------------------------------------------------- computing

    def _compute(self) -> None:
        try:
            start = parse_day(self.query_one("#from", Input).value, "From")
            end = parse_day(self.query_one("#to", Input).value, "To")
            if start and end and start > end:
                raise ValueError(f"the range starts ({start}) after it ends ({end})")
        except ValueError as error:
            self._say(str(error), error=True)
            return
        self._say("computing…")
        self._run(start, end)

    @work(thread=True, exclusive=True, group="analytics", exit_on_error=False)
    def _run(self, start: date | None, end: date | None) -> None:
        started = time.perf_counter()
        try:
            figures = compute_analytics(
                self.engine,
                start=start,
                end=end,
                filters=self.directory_query.filters,
                search=self.directory_query.search,
                today=self.today(),
            )
        except Exception as error:  # a lost connection: said, the old figures stay
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            text = reason[0] if reason else type(error).__name__
            self.app.call_from_thread(self._say, f"Could not compute: {text}", error=True)
            return
        self.app.call_from_thread(self.show, figures, time.perf_counter() - started)

    def show(self, figures: Analytics, took: float = 0.0) -> None:
        self.figures = figures
        since = "" if figures.start else "since the first customer · "
        self._say(f"{since}computed in {took:.2f} s")
        self.query_one("#figures", Static).update(figures_table(figures))
        self._draw_acquisition(figures)
        self._draw_growth(figures)
        self._draw_ltv(figures)
        self._draw_segments(figures)
        self._draw_active(figures)

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#range-message", Static)
        message.set_class(error, "-error")
        message.update(Text(text, no_wrap=True))

    # ----------------------------------------------------------------- charts

    def _plot(self, chart: str, title: str) -> Any:
        widget = self.query_one(f"#chart-{chart}", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        return widget, plt

    def _draw_acquisition(self, figures: Analytics) -> None:
        widget, plt = self._plot("acquisition", "New customers per month")
        months = [m.month for m in figures.acquisition]
        if months:
            counts = [m.customers for m in figures.acquisition]
            plt.bar(list(range(1, len(months) + 1)), counts, width=0.6)
            plt.xticks(*month_ticks(months))
            whole_number_axis(plt, max(counts))
        widget.refresh()

    def _draw_growth(self, figures: Analytics) -> None:
        widget, plt = self._plot("growth", "Customers at each month's end")
        months = [m.month for m in figures.growth]
        if months:
            counts = [m.customers for m in figures.growth]
            plt.plot(list(range(1, len(months) + 1)), counts)
            plt.xticks(*month_ticks(months))
            whole_number_axis(plt, max(counts), low=min(counts))
        widget.refresh()

    def _currencies(self, figures: Analytics) -> list[str]:
        return sorted({bucket.currency for bucket in figures.lifetime_value_distribution})

    def _draw_ltv(self, figures: Analytics) -> None:
        currencies = self._currencies(figures)
        currency = currencies[self.currency_index % len(currencies)] if currencies else ""
        others = f" · c: {len(currencies) - 1} more" if len(currencies) > 1 else ""
        # A currency code is stored data (a provider's answer): plotext's output is read
        # back as ANSI, so it is drawn as plain text, like every other stored value.
        shown = safe_text(currency)
        widget, plt = self._plot("ltv", f"Customers by lifetime value, {shown}{others}")
        buckets = [b for b in figures.lifetime_value_distribution if b.currency == currency]
        if buckets:
            labels = [safe_text(short_money(b.low_minor, currency)) + "+" for b in buckets]
            counts = [b.customers for b in buckets]
            plt.bar(labels, counts, width=0.6)
            whole_number_axis(plt, max(counts))
        widget.refresh()

    def _draw_segments(self, figures: Analytics) -> None:
        rows = [(s.name, s.customers) for s in figures.segments]
        if not any(count for _name, count in rows):
            rows = []  # never computed: say so rather than draw six zeros
        empty = "No segments yet: they are computed every 15 minutes while the app runs."
        self._draw_bars("segments", "Customers per segment", rows, empty)

    def _draw_active(self, figures: Analytics) -> None:
        rows = [("active", figures.active_customers), ("inactive", figures.inactive_customers)]
        self._draw_bars("active", "Active vs inactive customers", rows, "No customers.")

    def _draw_bars(self, chart: str, title: str, rows: list[tuple[str, int]], empty: str) -> None:
        widget = self.query_one(f"#chart-{chart}", Static)
        width = widget.size.width or (self.size.width // (2 if self.has_class("-wide") else 1))
        colour = self.app.theme_variables.get("primary", "")  # as plotext's bars
        bars = bar_rows(title, rows, bar_width=max(10, width - 24), empty=empty, colour=colour)
        widget.update(bars)

    # ---------------------------------------------------------------- actions

    @on(Input.Submitted)
    def _range_submitted(self) -> None:
        self.set_focus(self.query_one("#analytics-body"))
        self._compute()

    def action_range(self) -> None:
        self.set_focus(self.query_one("#from", Input))

    def action_next_currency(self) -> None:
        if self.figures is None:
            return
        self.currency_index += 1
        self._draw_ltv(self.figures)

    def action_scroll_down(self) -> None:
        self.query_one("#analytics-body", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#analytics-body", VerticalScroll).scroll_up()

    def action_scroll_home(self) -> None:
        self.query_one("#analytics-body", VerticalScroll).scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        self.query_one("#analytics-body", VerticalScroll).scroll_end(animate=False)

    def action_reload(self) -> None:
        self._compute()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):  # leave the range box first
            self.set_focus(self.query_one("#analytics-body"))
            return
        self.dismiss()
