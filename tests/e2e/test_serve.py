"""`crm-tui serve` end to end: the real command serving the app, a real headless
Chromium (Debian's, driven by Playwright) loading it, and what a stranger gets.

The terminal in the page is drawn on a canvas, so the test reads what the app sent to
the browser over the page's websocket: the directory's own lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.smtp_server import free_port

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# What the probe of this machine found that Chromium needs here (no sandbox as root,
# no GPU, and no calls home that a closed network would refuse one by one).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Served:
    address: str  # with its token
    base: str
    process: subprocess.Popen[str]
    output: list[str]


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env |= {"CRM_DATA_DIR": str(tmp_path / "data"), "CRM_CONFIG_DIR": str(tmp_path / "config")}
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    env = _environment(tmp_path)
    crm = [sys.executable, "-m", "crm_tui"]
    seed = [*crm, "demo", "seed", "--customers", "40", "--database-url", url]
    subprocess.run(seed, check=True, env=env, capture_output=True)
    port = free_port()
    process = subprocess.Popen(
        [*crm, "--database-url", url, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        address = _wait_for_address(process, output)
        yield Served(address, f"http://127.0.0.1:{port}", process, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for_address(process: subprocess.Popen[str], output: list[str]) -> str:
    assert process.stdout is not None
    address = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the message ends with how to stop the server
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        found = re.search(r"at (http://\S+)", line)
        address = found.group(1) if found else address
        if address and line.startswith("Ctrl+C"):
            return address
    raise AssertionError("serve printed no address:\n" + "".join(output))


def test_serve_listens_on_loopback_and_says_who_anyone_there_acts_as(served: Served) -> None:
    assert served.address.startswith(served.base + "/?token=")
    said = "".join(served.output)
    assert "Anyone who can reach 127.0.0.1" in said and "acts as" in said
    assert "ssh -L" in said


def test_without_the_token_the_page_is_refused(served: Served) -> None:
    assert httpx.get(served.base + "/").status_code == 403
    assert httpx.get(served.base + "/?token=guess").status_code == 403
    page = httpx.get(served.address)
    assert page.status_code == 200
    assert "/ws/" in page.text  # the websocket address carries the token too


def test_a_page_of_another_origin_cannot_open_the_session(served: Served) -> None:
    token = served.address.split("token=")[1]
    headers = {
        "Origin": "http://evil.example",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    answer = httpx.get(f"{served.base}/ws/{token}", headers=headers)
    assert answer.status_code == 403
    assert httpx.get(f"{served.base}/ws/not-the-token", headers=headers).status_code == 403


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed: SKIPPED")
def test_headless_chromium_loads_the_directory(served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    received: list[bytes] = []

    def on_frame(payload: str | bytes) -> None:
        received.append(payload if isinstance(payload, bytes) else payload.encode())

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
        page.goto(served.address)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _shows_directory(received):
            page.wait_for_timeout(200)
        page.screenshot(path=str(tmp_path / "served.png"))
        browser.close()
    screen = b"".join(received).decode("utf-8", "replace")
    assert _shows_directory(received), "the directory never reached the browser:\n" + screen[-2000:]


def _shows_directory(received: list[bytes]) -> bool:
    sent = b"".join(received).decode("utf-8", "replace")
    return "40 customers" in sent and "Name" in sent and "Email" in sent
