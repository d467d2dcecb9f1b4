"""Credentials: environment first, then the keyring; a clear refusal without a keyring."""

from __future__ import annotations

import io
from collections.abc import Iterator
from types import SimpleNamespace
from typing import ClassVar

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.backends.chainer import ChainerBackend
from keyring.errors import PasswordSetError

from crm_tui.cli import main
from crm_tui.services.secrets import NoKeyring, Secrets


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps its passwords in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.passwords.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


def test_environment_wins_then_keyring(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("crm-tui", "stripe_api_key", "sk_from_keyring")
    assert Secrets(environ={}).get("stripe_api_key") == "sk_from_keyring"
    env = {"CRM_STRIPE_API_KEY": "sk_from_env"}
    assert Secrets(environ=env).get("stripe_api_key") == "sk_from_env"
    assert Secrets(environ={}).get("paypal_client_id") == ""
    assert "sk_" not in repr(Secrets(environ=env))


def test_no_keyring_refuses_and_names_the_fallback(no_keyring: None) -> None:
    secrets = Secrets(environ={})
    assert secrets.get("stripe_api_key") == ""
    with pytest.raises(NoKeyring) as refused:
        secrets.set("stripe_api_key", "sk_live_secret")
    assert "CRM_STRIPE_API_KEY" in str(refused.value)
    assert "sk_live_secret" not in str(refused.value)


def test_cli_stores_from_piped_input(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("client-id-1\nclient-secret-2\n"))
    assert main(["secrets", "set", "paypal"]) == 0
    assert memory_keyring.passwords == {
        ("crm-tui", "paypal_client_id"): "client-id-1",
        ("crm-tui", "paypal_client_secret"): "client-secret-2",
    }
    out = capsys.readouterr().out
    assert "stored paypal_client_id" in out and "client-secret-2" not in out


def test_cli_without_keyring_exits_2_with_the_fallback(
    no_keyring: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("sk_test_1\n"))
    assert main(["secrets", "set", "stripe"]) == 2
    err = capsys.readouterr().err
    assert "no keyring backend" in err and "CRM_STRIPE_API_KEY" in err


def test_cli_stores_a_stripe_key_from_piped_input(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("sk_test_piped_123\n"))
    assert main(["secrets", "set", "stripe"]) == 0
    assert memory_keyring.passwords == {("crm-tui", "stripe_api_key"): "sk_test_piped_123"}
    captured = capsys.readouterr()
    assert "stored stripe_api_key" in captured.out
    assert "sk_test_piped_123" not in captured.out + captured.err
    # What the keyring holds is what the app reads when the environment says nothing.
    assert Secrets(environ={}).get("stripe_api_key") == "sk_test_piped_123"


def test_cli_stores_the_smtp_password(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("mail-pass\n"))
    assert main(["secrets", "set", "smtp"]) == 0
    assert memory_keyring.passwords == {("crm-tui", "smtp_password"): "mail-pass"}


class EmptyChain(ChainerBackend):
    """keyring's chainer when it found nothing to chain (a jump host without D-Bus)."""

    backends: ClassVar[list[KeyringBackend]] = []


class RefusingKeyring(MemoryKeyring):
    """A locked keyring: its error text carries the value, which must not travel on."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"cannot store {password}")


def test_an_empty_chain_is_no_keyring() -> None:
    secrets = Secrets(environ={}, keyring_module=SimpleNamespace(get_keyring=EmptyChain))
    usable, why = secrets.keyring_status()
    assert not usable and "no keyring backend" in why
    with pytest.raises(NoKeyring, match="CRM_SMTP_PASSWORD"):
        secrets.set("smtp_password", "pw-1")


def test_a_refusing_keyring_says_so_without_the_value() -> None:
    secrets = Secrets(environ={}, keyring_module=SimpleNamespace(get_keyring=RefusingKeyring))
    with pytest.raises(NoKeyring) as refused:
        secrets.set("stripe_api_key", "sk_live_do_not_leak")
    message = str(refused.value)
    assert "refused to store stripe_api_key" in message and "CRM_STRIPE_API_KEY" in message
    assert "sk_live_do_not_leak" not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
