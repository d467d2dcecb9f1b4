"""A terminal that goes away without a hang-up signal (the app started through `su`
in a tmux pane whose server is killed, an SSH drop): the app leaves, where Textual's
input thread would read end-of-file in a loop at ~40% of a core for ever.

The app runs on a real pseudo-terminal that is not its controlling terminal, so
closing the terminal's side sends it no SIGHUP — only end-of-file and POLLHUP.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_the_app_leaves_when_its_terminal_hangs_up(tmp_path: Path) -> None:
    terminal, app_side = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env |= {
        "CRM_DATA_DIR": str(tmp_path / "data"),
        "CRM_CONFIG_DIR": str(tmp_path / "config"),
        "TERM": "xterm-256color",
        "COLUMNS": "80",
        "LINES": "24",
    }
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    crm = [sys.executable, "-m", "crm_tui"]
    seed = [*crm, "demo", "seed", "--customers", "20", "--database-url", url]
    subprocess.run(seed, check=True, env=env, capture_output=True)
    app = subprocess.Popen(
        [*crm, "--database-url", url], stdin=app_side, stdout=app_side, stderr=app_side, env=env
    )
    os.close(app_side)
    screen, stop = bytearray(), threading.Event()
    reader = threading.Thread(target=_drain, args=(terminal, screen, stop), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while b"20 customers" not in screen and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"20 customers" in screen, screen.decode("utf-8", "replace")[-500:]
        stop.set()
        reader.join()  # (a read in progress would keep the terminal open)
        os.close(terminal)  # the terminal goes away; no signal is sent
        assert app.wait(timeout=15) == 129
    finally:
        if app.poll() is None:
            app.kill()


def _drain(fd: int, into: bytearray, stop: threading.Event) -> None:
    """Read what the app draws (it would block on a full terminal otherwise)."""
    while not stop.is_set():
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into.extend(chunk)
