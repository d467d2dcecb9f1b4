"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 and a free port.

Every message it accepts is parsed with the `email` package and kept in
`messages` (with its envelope in `envelopes`), so a test reads what a customer's
mail server would have received. Switches make it behave like the servers agents
meet in practice:

- `refuse_sender`, `refuse_recipient`, `refuse_data`: answer MAIL FROM, RCPT TO
  or DATA with the given reply (e.g. "550 5.7.1 relaying denied");
- `users`: a login is required (AUTH PLAIN/LOGIN without TLS — the test
  server only), and only these user names and passwords are accepted.

`smtp_server.settings()` gives Settings pointing at it (no STARTTLS: the test
server has no certificate).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from crm_tui.config import Settings

HOST = "127.0.0.1"
SENDER = "support@crm-tui.example"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_sender: str = ""
    refuse_recipient: str = ""
    refuse_data: str = ""
    users: dict[str, str] = field(default_factory=dict)
    controller: Any = None

    def go_down(self) -> None:
        """Stop listening: connections are refused, as from a server that crashed."""
        self.controller.stop()

    def come_back(self) -> None:
        """Listen again on the same port (a stopped controller cannot restart)."""
        self.controller = _controller(self)
        self.controller.start()

    def accept_all(self) -> None:
        self.refuse_sender = self.refuse_recipient = self.refuse_data = ""

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_starttls": False,
            "smtp_sender": SENDER,
        }
        return Settings(**(values | overrides))

    # ------------------------------------------------------------- aiosmtpd hooks

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_recipient:
            return self.refuse_recipient
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        # The wire's CRLF line ends become Python's \n, as a mail client would show.
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        return AuthResult(success=self.users.get(user) == password, handled=False)


def _controller(state: SmtpServer) -> Controller:
    return Controller(
        state,
        hostname=HOST,
        port=state.port,
        enable_SMTPUTF8=True,
        authenticator=state.authenticate,
        auth_require_tls=False,  # the test server has no certificate
    )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    state = SmtpServer(HOST, free_port())
    state.controller = _controller(state)
    state.controller.start()
    try:
        yield state
    finally:
        with contextlib.suppress(AssertionError, RuntimeError):  # already down
            state.controller.stop()
