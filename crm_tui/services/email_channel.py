"""Email to a customer: stored first, then sent over SMTP, the outcome recorded.

1. Check before writing anything: SMTP is configured (else `EmailNotConfigured`),
   the customer has one plain address, the subject and file names hold no line
   breaks (a CR/LF in a header would let customer data add headers — `Bcc:` —
   so it is refused, not cleaned up). Customer values are text: the recipient
   header carries only the address, never a name.
2. An `email_message` row, status queued, in its own transaction: a send that is
   interrupted (a crash, a kill) leaves a visible trace, never nothing.
3. SMTP to host:port (STARTTLS when set, a login when a user name is set, with the
   password from Secrets), 15 s timeout.
4. The row marked sent or failed (with a reason an agent can act on), and one
   activity event on the customer with the agent as actor, in one transaction.
   A failure then raises `EmailFailed`; `retry` sends the same row again.

The SMTP password is read when needed and passed straight to the login; errors are
re-raised without their cause, so it cannot travel in a traceback's locals.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.config import Settings, looks_like_address
from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, EmailStatus
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.database import as_utc
from crm_tui.services.intents import record_activity
from crm_tui.services.permissions import Permission, authorize
from crm_tui.services.profile import customer_row
from crm_tui.services.secrets import Secrets

_TABLES = tables.SQLModel.metadata.tables
_email = _TABLES["email_message"]

SMTP_TIMEOUT = 15.0  # seconds; a jump host's mail relay answers in well under that
# (file name, content, MIME type), e.g. ("INV-0042.pdf", b"%PDF...", "application/pdf")
Attachment = tuple[str, bytes, str]


class EmailNotConfigured(Exception):
    """No SMTP server (or no sender, or no password for the login) is configured."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmailFailed(Exception):
    """The message was stored and recorded as failed; `message` says why, for the agent."""

    def __init__(self, message: str, email_id: int) -> None:
        super().__init__(message)
        self.message = message
        self.email_id = email_id


@dataclass(frozen=True)
class SentEmail:
    id: int
    customer_id: int
    to_address: str
    subject: str
    status: str  # EmailStatus
    template: str
    created_at: datetime
    sent_at: datetime | None
    error: str


def _no_line_breaks(field: str, value: str, what: str) -> None:
    # Any control character (CR, LF, NUL, ESC...) in a header is refused outright.
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(
            {field: f"the {what} contains a line break or control character: refused"}
        )


def _sent_email(row: Any) -> SentEmail:
    return SentEmail(
        id=row.id,
        customer_id=row.customer_id,
        to_address=row.to_address,
        subject=row.subject,
        status=row.status,
        template=row.template,
        created_at=as_utc(row.created_at),
        sent_at=None if row.sent_at is None else as_utc(row.sent_at),
        error=row.error,
    )


def _reply(code: int, text: bytes | str) -> str:
    """An SMTP reply as one short line (servers answer in several)."""
    words = (text.decode("utf-8", "replace") if isinstance(text, bytes) else text).split()
    return f"{code} {' '.join(words)}"[:200]


class EmailChannel:
    """Send email to customers through the configured SMTP server. Thread-safe."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        secrets: Secrets,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.secrets = secrets
        self.now = clock or (lambda: datetime.now(UTC))
        # Attachments of failed sends in this process (the table keeps no files), so
        # `retry` sends them again; callers in another process pass them anew.
        self._unsent: dict[int, tuple[Attachment, ...]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EmailChannel({self.settings.smtp_host or 'not configured'})"

    # ------------------------------------------------------------------ public

    def send(
        self,
        customer_id: int,
        subject: str,
        body: str,
        actor: Actor,
        *,
        attachments: Sequence[Attachment] = (),
        template: str = "",
        details: Mapping[str, Any] | None = None,
        campaign_id: str = "",
    ) -> SentEmail:
        """Send `subject`/`body` to the customer; EmailFailed (after recording) if refused.

        `details` are added to the activity event (an invoice id, for instance);
        `campaign_id` ties the message to a campaign, which resumes by it."""
        self.check_configured()
        _no_line_breaks("subject", subject, "subject")
        files = self._checked_attachments(attachments)
        with self.engine.begin() as connection:
            authorize(connection, actor, Permission.CHANGE, "email customers")
            customer = customer_row(connection, customer_id)
            to = self._recipient(customer)
            email_id = self._store(
                connection, customer.id, to, subject, body, template, actor, campaign_id
            )
        return self._attempt(email_id, files, actor, dict(details or {}), retry=False)

    def retry(
        self,
        email_id: int,
        actor: Actor,
        *,
        attachments: Sequence[Attachment] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> SentEmail:
        """Send a failed message again: the same row, a new attempt.

        `attachments` None: those of the failed attempt, if it was made by this channel."""
        self.check_configured()
        with self._lock:
            remembered = self._unsent.get(email_id, ())
        files = self._checked_attachments(remembered if attachments is None else attachments)
        with self.engine.begin() as connection:
            # Only one retry wins: the row goes failed → queued here, or not at all.
            claimed = connection.execute(
                sa.update(_email)
                .where(_email.c.id == email_id, _email.c.status == EmailStatus.FAILED.value)
                .values(status=EmailStatus.QUEUED.value, error="")
            ).rowcount
            if not claimed:
                raise InvalidInput({"email": self._why_not_retryable(connection, email_id)})
        return self._attempt(email_id, files, actor, dict(details or {}), retry=True)

    def email(self, email_id: int) -> SentEmail:
        with self.engine.connect() as connection:
            return self._read(connection, email_id)

    def check_configured(self) -> None:
        """EmailNotConfigured, naming the settings to set, unless a send can be tried."""
        settings = self.settings
        where = f" in {settings.config_path}" if settings.config_path else ""
        if not settings.smtp_host or not settings.smtp_sender:
            raise EmailNotConfigured(
                f"Email is not set up: set host and sender in the [smtp] table{where} "
                "(or CRM_SMTP_HOST and CRM_SMTP_SENDER)."
            )
        if settings.smtp_username and not self.secrets.get("smtp_password"):
            raise EmailNotConfigured(
                "smtp.username is set but no SMTP password is stored: run "
                "`crm-tui secrets set smtp` (or set CRM_SMTP_PASSWORD)."
            )

    # ---------------------------------------------------------------- checking

    @staticmethod
    def _checked_attachments(attachments: Sequence[Attachment]) -> tuple[Attachment, ...]:
        for filename, _, mime in attachments:
            _no_line_breaks("attachment", filename, "attachment's file name")
            maintype, _, subtype = mime.partition("/")
            if not maintype or not subtype or any(c.isspace() for c in mime):
                raise InvalidInput({"attachment": f"{mime!r} is not a MIME type"})
        return tuple(attachments)

    @staticmethod
    def _recipient(customer: Any) -> str:
        if customer.erased_at is not None:
            raise InvalidInput({"to": f"customer #{customer.id} was erased: no email is sent"})
        address = (customer.email or customer.company_email or "").strip()
        if not address:
            raise InvalidInput({"to": f"customer #{customer.id} has no email address"})
        _no_line_breaks("to", address, "customer's email address")
        if not looks_like_address(address):
            raise InvalidInput(
                {"to": f"the customer's email address {address!r} is not one plain address"}
            )
        return address

    # ----------------------------------------------------------------- writing

    def _store(
        self,
        connection: Connection,
        customer_id: int,
        to: str,
        subject: str,
        body: str,
        template: str,
        actor: Actor,
        campaign_id: str = "",
    ) -> int:
        key = connection.execute(
            sa.insert(_email).values(
                customer_id=customer_id,
                campaign_id=campaign_id,
                template=template,
                to_address=to,
                subject=subject,
                body=body,
                status=EmailStatus.QUEUED.value,
                error="",
                created_at=self.now(),
                agent_id=actor.agent_id,
            )
        ).inserted_primary_key
        assert key is not None
        return int(key[0])

    def _attempt(
        self,
        email_id: int,
        files: tuple[Attachment, ...],
        actor: Actor,
        details: dict[str, Any],
        *,
        retry: bool,
    ) -> SentEmail:
        with self.engine.connect() as connection:
            row = self._row(connection, email_id)
        stored = _sent_email(row)
        error = self._deliver(self._message(stored, row.body, files))
        details |= {
            "email_id": email_id,
            "to": stored.to_address,
            "subject": stored.subject,
            "template": stored.template,
            "attachments": [name for name, _, _ in files],
            "retry": retry,
        }
        sent = self._record(stored, error, actor, details)
        with self._lock:
            if error:
                self._unsent[email_id] = files
            else:
                self._unsent.pop(email_id, None)
        if error:
            raise EmailFailed(error, email_id)
        return sent

    def _record(
        self, stored: SentEmail, error: str, actor: Actor, details: dict[str, Any]
    ) -> SentEmail:
        now = self.now()
        subject, to = stored.subject, stored.to_address
        if error:
            values: dict[str, Any] = {"status": EmailStatus.FAILED.value, "error": error}
            summary = f"Email '{subject}' to {to} failed: {error}"
        else:
            values = {"status": EmailStatus.SENT.value, "error": "", "sent_at": now}
            again = " (retried)" if details.get("retry") else ""
            summary = f"Emailed '{subject}' to {to}{again}"
        with self.engine.begin() as connection:
            connection.execute(sa.update(_email).where(_email.c.id == stored.id).values(**values))
            outcome = details | {"status": values["status"], "error": error}
            record_activity(
                connection, stored.customer_id, ActivityKind.SUPPORT, actor, summary, outcome, now
            )
            return self._read(connection, stored.id)

    def _read(self, connection: Connection, email_id: int) -> SentEmail:
        return _sent_email(self._row(connection, email_id))

    @staticmethod
    def _row(connection: Connection, email_id: int) -> Any:
        row = connection.execute(sa.select(_email).where(_email.c.id == email_id)).first()
        if row is None:
            raise InvalidInput({"email": f"there is no email #{email_id}"})
        return row

    def _why_not_retryable(self, connection: Connection, email_id: int) -> str:
        stored = self._read(connection, email_id)
        if stored.status == EmailStatus.SENT.value:
            return f"email #{email_id} was sent already"
        return f"email #{email_id} is being sent (or its outcome is unknown): not sent again"

    # ----------------------------------------------------------------- sending

    def _message(self, stored: SentEmail, body: str, files: tuple[Attachment, ...]) -> EmailMessage:
        sender = self.settings.smtp_sender
        message = EmailMessage()
        message["From"] = sender
        message["To"] = stored.to_address
        message["Subject"] = stored.subject
        message["Date"] = format_datetime(self.now())
        # The sender's domain, not socket.getfqdn(): that can stall on a jump host's DNS.
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
        message.set_content(body)
        for filename, content, mime in files:
            maintype, _, subtype = mime.partition("/")
            message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
        return message

    def _deliver(self, message: EmailMessage) -> str:
        """Send; "" when the server took the message, else why not, for the agent."""
        settings = self.settings
        stage = "connect"
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
                if settings.smtp_starttls:
                    stage = "tls"
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_username:
                    stage = "login"
                    smtp.login(settings.smtp_username, self.secrets.get("smtp_password"))
                stage = "send"
                smtp.send_message(message)
        except Exception as error:
            return self._explain(error, stage, str(message["To"]))
        return ""

    def _explain(self, error: Exception, stage: str, to: str) -> str:
        """What went wrong, in words an agent can act on. Never the password."""
        where = f"{self.settings.smtp_host}:{self.settings.smtp_port}"
        if isinstance(error, smtplib.SMTPException):
            return self._explain_smtp(error, where, to)
        if isinstance(error, ssl.SSLCertVerificationError):
            return (
                f"TLS with {where} failed: its certificate is not trusted ({error.verify_message})"
            )
        if isinstance(error, ssl.SSLError):
            return f"TLS with {where} failed ({error.reason or type(error).__name__})"
        if isinstance(error, TimeoutError):
            if stage == "send":
                return (
                    f"{where} stopped answering while the message was sent; it may have "
                    "arrived — check with the customer before retrying"
                )
            return f"cannot reach {where}: no answer within {SMTP_TIMEOUT:.0f} s"
        if isinstance(error, socket.gaierror):
            return f"cannot reach {where}: the host name is not known"
        if isinstance(error, ConnectionRefusedError):
            return f"cannot reach {where}: connection refused"
        if isinstance(error, OSError):
            return f"cannot reach {where}: {error.strerror or type(error).__name__}"
        return f"sending failed ({type(error).__name__})"

    def _explain_smtp(self, error: smtplib.SMTPException, where: str, to: str) -> str:
        match error:
            case smtplib.SMTPAuthenticationError():
                return (
                    "login refused — check crm-tui secrets set smtp "
                    "(or CRM_SMTP_PASSWORD) and smtp.username"
                )
            case smtplib.SMTPSenderRefused(smtp_code=code, smtp_error=text):
                sender = self.settings.smtp_sender
                return f"the mail server refused the sender {sender} ({_reply(code, text)})"
            case smtplib.SMTPRecipientsRefused(recipients=refused):
                code, text = next(iter(refused.values()), (0, b""))
                return f"the mail server refused the recipient {to} ({_reply(code, text)})"
            case smtplib.SMTPDataError(smtp_code=code, smtp_error=text):
                return f"the mail server refused the message ({_reply(code, text)})"
            case smtplib.SMTPConnectError(smtp_code=code, smtp_error=text):
                return f"cannot reach {where}: it answered {_reply(code, text)}"
            case smtplib.SMTPNotSupportedError() if "STARTTLS" in str(error):
                return (
                    f"{where} does not offer STARTTLS; use a server that does "
                    "(smtp.starttls = false only for a relay on this machine)"
                )
            case smtplib.SMTPNotSupportedError() if "AUTH" in str(error):
                return f"{where} does not offer a login, but smtp.username is set"
            case smtplib.SMTPNotSupportedError():
                return f"the mail server cannot take this address ({to}): no SMTPUTF8"
            case smtplib.SMTPServerDisconnected():
                return f"{where} closed the connection"
            case smtplib.SMTPResponseException(smtp_code=code, smtp_error=text):
                return f"the mail server answered {_reply(code, text)}"
        return f"the mail server failed ({type(error).__name__})"
