"""`crm-tui doctor` (issue 8): each check says what it found and the fix; a machine
with no keyring and no provider credentials is told so and the command exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm_tui.config import Settings
from crm_tui.services.doctor import Status, exit_status, private_files, run_checks
from crm_tui.services.secrets import Secrets
from tests.support.localstripe_server import LocalStripe
from tests.support.smtp_server import SmtpServer, free_port

NO_KEYRING = "keyring.backends.fail.Keyring"


def test_no_keyring_and_no_credentials_say_so_with_the_fix_and_exit_1(
    tmp_path: Path, db_url: str
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CRM_") and key not in {"TMUX", "NO_COLOR"}
    }
    env |= {
        "PYTHON_KEYRING_BACKEND": NO_KEYRING,
        "CRM_CONFIG_DIR": str(tmp_path / "config"),
        "CRM_DATA_DIR": str(tmp_path / "data"),
        "TERM": "xterm-256color",
    }
    done = subprocess.run(
        [sys.executable, "-m", "crm_tui", "doctor", "--database-url", db_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "[warning] keyring: no keyring backend" in out
    assert "Set the environment variables instead: CRM_STRIPE_API_KEY" in out
    assert "[ FAILED] Stripe: no API key" in out
    assert "no keyring here: export CRM_STRIPE_API_KEY" in out
    assert "[ FAILED] PayPal: no client id and secret" in out
    assert "export CRM_PAYPAL_CLIENT_ID and CRM_PAYPAL_CLIENT_SECRET" in out
    assert "[     ok] database:" in out
    assert out.rstrip().endswith("2 problem(s), 2 warning(s)")  # the keyring, email off


def test_a_working_setup_passes(
    sqlite_url: str, localstripe: LocalStripe, smtp_server: SmtpServer
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        stripe_api_base=localstripe.url,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_sender="support@example.com",
    )
    secrets = Secrets(environ={"CRM_STRIPE_API_KEY": localstripe.api_key})
    checks = {c.name: c for c in run_checks(settings, secrets, environ={"TERM": "xterm"})}
    assert checks["Stripe"].status == Status.OK
    assert checks["PayPal"].status == Status.WARNING  # Stripe alone is a working setup
    assert checks["email"].status == Status.OK
    assert exit_status(list(checks.values())) == 0


def test_a_bad_key_and_an_unreachable_mail_server_fail(
    sqlite_url: str, localstripe: LocalStripe
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        stripe_api_base=localstripe.url,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),  # nobody listens
        smtp_sender="support@example.com",
    )
    secrets = Secrets(environ={"CRM_STRIPE_API_KEY": "sk_test_not_a_real_key"})
    checks = {c.name: c for c in run_checks(settings, secrets, environ={"TERM": "xterm"})}
    assert checks["email"].status == Status.FAILED and "cannot be reached" in checks["email"].found
    assert exit_status(list(checks.values())) == 1


def test_inside_tmux_without_set_clipboard_says_how(sqlite_url: str) -> None:
    env = {"TERM": "tmux-256color", "TMUX": "/tmp/nonexistent-tmux-socket,1,0"}
    (tmux,) = [
        c for c in run_checks(Settings(database_url=sqlite_url), environ=env) if c.name == "tmux"
    ]
    assert tmux.status == Status.WARNING
    assert "set -g set-clipboard on" in tmux.fix


def test_personal_data_open_to_others_is_a_failure_with_the_chmod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, config = tmp_path / "data", tmp_path / "config"
    data.mkdir(mode=0o700)
    config.mkdir(mode=0o700)
    database = data / "crm.sqlite3"
    database.touch(mode=0o600)
    monkeypatch.setenv("CRM_DATA_DIR", str(data))
    monkeypatch.setenv("CRM_CONFIG_DIR", str(config))
    settings = Settings(database_url=f"sqlite:///{database}")
    assert private_files(settings).status == Status.OK

    config.chmod(0o755)  # settings only: worse, not wrong
    found = private_files(settings)
    assert found.status == Status.WARNING and f"chmod 700 {config}" in found.fix

    database.chmod(0o644)  # customers' personal data, readable by every login
    found = private_files(settings)
    assert found.status == Status.FAILED
    assert f"{database} (644)" in found.found
    assert f"chmod 600 {database}" in found.fix and f"chmod 700 {config}" in found.fix
