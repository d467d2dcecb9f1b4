"""Typing into a dialog at 80x24: every tab stop is a field or a button."""

from __future__ import annotations

from tests.ui.conftest import make_app
from tests.ui.test_refund_dialog import PARTIAL, _open_refund


async def test_refund_dialog_tab_order_reaches_each_field_at_80x24(demo_url: str) -> None:
    app = make_app(demo_url, demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        _, dialog = await _open_refund(pilot, PARTIAL)
        stops = []
        for _ in range(4):
            await pilot.press("tab")
            focused = dialog.focused
            stops.append(f"{type(focused).__name__}#{focused.id}" if focused else "nothing")
        assert stops == ["Button#refund", "Input#None", "TextArea#refund-reason", "Button#cancel"]
        await pilot.press("tab", "tab")  # Cancel → Refund → amount
        await pilot.press("ctrl+u", *"12.50", "tab", *"Late delivery")
        await pilot.pause(0.2)
        assert dialog.value("amount") == "12.50"
        assert dialog.value("reason") == "Late delivery"
