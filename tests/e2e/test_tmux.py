"""End to end: the real `crm-tui --demo` in a real terminal (tmux), driven by keystrokes.

What an agent does on their first morning: start the demo, wait for the customers,
search, open one, come back, filter, quit. The screen is read with capture-pane.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

if shutil.which("tmux") is None:
    pytest.skip("tmux is not installed: end-to-end tests SKIPPED", allow_module_level=True)


class Terminal:
    """One session on a tmux server of its own (-L): the agent's own tmux server,
    and the environment it was started with, cannot leak into the test."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.tmux = ["tmux", "-L", session, "-f", "/dev/null"]

    def keys(self, *keys: str, literal: bool = False) -> None:
        command = [*self.tmux, "send-keys", "-t", self.session]
        subprocess.run([*command, *(["-l"] if literal else []), *keys], check=True)

    def screen(self) -> str:
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.session],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def alive(self) -> bool:
        return subprocess.run([*self.tmux, "has-session", "-t", self.session]).returncode == 0


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    session = f"crm-e2e-{uuid.uuid4().hex[:8]}"
    env = (
        f"CRM_DATA_DIR={tmp_path / 'data'} CRM_CONFIG_DIR={tmp_path / 'config'} TERM=xterm-256color"
    )
    # The demo database, whatever the environment says (-u: a URL set by the caller).
    command = f"env -u CRM_DATABASE_URL {env} {sys.executable} -m crm_tui --demo"
    terminal = Terminal(session)
    subprocess.run(
        [*terminal.tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command],
        check=True,
    )
    try:
        yield terminal
    finally:  # this test's own server only
        subprocess.run([*terminal.tmux, "kill-server"], capture_output=True)


def test_demo_in_tmux_at_80x24(terminal: Terminal, tmp_path: Path) -> None:
    screen = terminal.wait_for("1 of 5,000 customers", timeout=120)  # seeds on first use
    assert "Name ▲" in screen and "Email" in screen and "MRR" in screen
    assert (tmp_path / "data" / "demo.sqlite3").stat().st_mode & 0o077 == 0  # owner only

    # One burst, as a fast typist over SSH sends it: search, go to the results, last, open.
    terminal.keys("/", "a", "d", "a", "Enter", "G", "Enter")
    screen = terminal.wait_for(" customer · ")  # the Overview, at a glance
    assert "1 Overview  2 Subscriptions  3 Payments  4 Activity  5 Notes" in screen
    assert "LTV " in screen and "outstanding" in screen

    # The profile's tabs and a note, keys only, at 80x24.
    terminal.keys("3")
    terminal.wait_for("Payments: ")
    terminal.keys("4")
    terminal.wait_for("Events: ")
    terminal.keys("n")
    terminal.wait_for("Add a note")
    terminal.keys("C-s")
    terminal.wait_for("Nothing was saved: 1 field needs attention.")
    # A burst again: summary, tab, the note's text, save — every key where it belongs.
    terminal.keys("Asked about tmux", literal=True)
    terminal.keys("Tab")
    terminal.keys("Typed ahead", literal=True)
    terminal.keys("C-s")
    terminal.wait_for("Saved.")
    terminal.keys("5")
    terminal.wait_for("Asked about tmux")
    terminal.keys("Enter")  # expand the newest note
    terminal.wait_for("Typed ahead")
    terminal.keys("Escape")
    screen = terminal.wait_for("customers · sort: Name")
    assert "ada" in screen  # the search survived the round trip

    terminal.keys("Escape")  # clear the search
    terminal.wait_for("1 of 5,000 customers")
    terminal.keys("S")  # reverse
    terminal.wait_for("Name ▼")
    terminal.keys("?")
    terminal.wait_for("Keys · type to filter · escape closes")
    terminal.keys("Escape")
    terminal.keys("C-q")
    deadline = time.monotonic() + 10
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not terminal.alive()
