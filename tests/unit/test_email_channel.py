"""EmailChannel against a real SMTP server (aiosmtpd): stored, sent, refused, retried."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.email_channel import (
    EmailChannel,
    EmailFailed,
    EmailNotConfigured,
    SentEmail,
)
from crm_tui.services.secrets import Secrets
from tests.factories import add_agent, add_customer
from tests.support.smtp_server import SENDER, SmtpServer, free_port

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _setup(engine: Engine, **customer: Any) -> tuple[int, Actor]:
    with engine.begin() as connection:
        agent_id = add_agent(connection, "maria")
        customer_id = add_customer(connection, **customer)
    return customer_id, Actor.agent("maria", agent_id)


def _channel(engine: Engine, smtp: SmtpServer, env: dict[str, str] | None = None, **settings: Any):
    return EmailChannel(
        engine, smtp.settings(**settings), Secrets(environ=env or {}), clock=lambda: NOW
    )


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(sql)))


def test_a_message_reaches_the_server_and_is_recorded(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    customer_id, maria = _setup(engine, name="Ada [b]Lovelace[/b]", email="ada@example.com")
    sent = _channel(engine, smtp_server).send(
        customer_id, "Your invoice INV-0042", "Hello Ada,\nthe total is $89.00.\n", maria
    )

    assert isinstance(sent, SentEmail)
    assert (sent.status, sent.to_address, sent.sent_at) == ("sent", "ada@example.com", NOW)
    [message] = smtp_server.messages
    assert message["To"] == "ada@example.com" and message["From"] == SENDER
    assert message["Subject"] == "Your invoice INV-0042"
    assert message.get_content() == "Hello Ada,\nthe total is $89.00.\n"
    assert "Lovelace" not in str(message)  # the header carries the address, not the name
    assert smtp_server.envelopes == [(SENDER, ["ada@example.com"])]

    assert _rows(engine, "SELECT status, error, agent_id FROM email_message") == [
        ("sent", "", maria.agent_id)
    ]
    [event] = _rows(engine, "SELECT kind, actor_type, agent_id, summary FROM activity_event")
    assert tuple(event) == (
        "support",
        "agent",
        maria.agent_id,
        "Emailed 'Your invoice INV-0042' to ada@example.com",
    )


def test_a_business_without_a_personal_email_gets_the_company_address(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    customer_id, maria = _setup(
        engine, kind="business", email="", company_email="ap@nordlicht.example"
    )
    _channel(engine, smtp_server).send(customer_id, "Hello", "Body", maria)
    assert smtp_server.envelopes[0][1] == ["ap@nordlicht.example"]


def test_unicode_subject_and_body_arrive_intact(engine: Engine, smtp_server: SmtpServer) -> None:
    customer_id, maria = _setup(engine, name="王芳", email="wang@example.com")
    _channel(engine, smtp_server).send(customer_id, "Rechnung für Zoë — €", "Grüße, 王芳", maria)
    [message] = smtp_server.messages
    assert message["Subject"] == "Rechnung für Zoë — €"
    assert message.get_content().strip() == "Grüße, 王芳"


def test_a_refusal_is_recorded_then_a_retry_sends_the_same_row(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    customer_id, maria = _setup(engine)
    channel = _channel(engine, smtp_server)
    smtp_server.refuse_data = "554 5.7.1 Message rejected as spam"
    attachment = ("notes.txt", b"attached text", "text/plain")

    with pytest.raises(EmailFailed) as failed:
        channel.send(customer_id, "Welcome", "Hi", maria, attachments=[attachment])
    assert failed.value.message == (
        "the mail server refused the message (554 5.7.1 Message rejected as spam)"
    )
    assert smtp_server.messages == []
    assert _rows(engine, "SELECT id, status, error FROM email_message") == [
        (failed.value.email_id, "failed", failed.value.message)
    ]
    assert _rows(engine, "SELECT summary FROM activity_event") == [
        ("Email 'Welcome' to ada@example.com failed: " + failed.value.message,)
    ]

    smtp_server.accept_all()
    sent = channel.retry(failed.value.email_id, maria)
    assert (sent.id, sent.status, sent.error) == (failed.value.email_id, "sent", "")
    [message] = smtp_server.messages
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "notes.txt" and part.get_content() == "attached text"
    assert _rows(engine, "SELECT count(*) FROM email_message") == [(1,)]
    assert _rows(engine, "SELECT summary FROM activity_event ORDER BY id")[-1] == (
        "Emailed 'Welcome' to ada@example.com (retried)",
    )
    with pytest.raises(InvalidInput, match="was sent already"):
        channel.retry(sent.id, maria)


@pytest.mark.parametrize(
    ("switch", "reply", "expected"),
    [
        (
            "refuse_sender",
            "550 5.7.1 Sender not allowed",
            f"the mail server refused the sender {SENDER} (550 5.7.1 Sender not allowed)",
        ),
        (
            "refuse_recipient",
            "550 5.1.1 No such user",
            "the mail server refused the recipient ada@example.com (550 5.1.1 No such user)",
        ),
    ],
)
def test_refused_sender_or_recipient_says_which(
    engine: Engine, smtp_server: SmtpServer, switch: str, reply: str, expected: str
) -> None:
    customer_id, maria = _setup(engine)
    setattr(smtp_server, switch, reply)
    with pytest.raises(EmailFailed) as failed:
        _channel(engine, smtp_server).send(customer_id, "Hello", "Body", maria)
    assert failed.value.message == expected


def test_an_unreachable_server_is_recorded_as_such(engine: Engine, smtp_server: SmtpServer) -> None:
    customer_id, maria = _setup(engine)
    closed = free_port()  # nothing listens there
    channel = _channel(engine, smtp_server, smtp_port=closed)
    with pytest.raises(EmailFailed) as failed:
        channel.send(customer_id, "Hello", "Body", maria)
    assert failed.value.message == f"cannot reach 127.0.0.1:{closed}: connection refused"
    assert _rows(engine, "SELECT status FROM email_message") == [("failed",)]


def test_login_with_the_password_from_secrets(engine: Engine, smtp_server: SmtpServer) -> None:
    customer_id, maria = _setup(engine)
    smtp_server.users = {"mailer": "right-password"}
    good = _channel(
        engine, smtp_server, {"CRM_SMTP_PASSWORD": "right-password"}, smtp_username="mailer"
    )
    assert good.send(customer_id, "One", "Body", maria).status == "sent"

    bad = _channel(
        engine, smtp_server, {"CRM_SMTP_PASSWORD": "wrong-password"}, smtp_username="mailer"
    )
    with pytest.raises(EmailFailed) as failed:
        bad.send(customer_id, "Two", "Body", maria)
    assert failed.value.message.startswith("login refused — check crm-tui secrets set smtp")
    stored = _rows(engine, "SELECT error FROM email_message")
    details = _rows(engine, "SELECT summary, details FROM activity_event")
    assert "wrong-password" not in f"{stored}{details}{failed.value!r}"
    assert len(smtp_server.messages) == 1


def test_starttls_missing_on_the_server_is_explained(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    customer_id, maria = _setup(engine)
    with pytest.raises(EmailFailed, match="does not offer STARTTLS"):
        _channel(engine, smtp_server, smtp_starttls=True).send(customer_id, "Hi", "Body", maria)


def test_without_a_host_nothing_is_written(engine: Engine, smtp_server: SmtpServer) -> None:
    customer_id, maria = _setup(engine)
    with pytest.raises(EmailNotConfigured, match=r"\[smtp\].*CRM_SMTP_HOST"):
        _channel(engine, smtp_server, smtp_host="").send(customer_id, "Hi", "Body", maria)
    with pytest.raises(EmailNotConfigured, match="crm-tui secrets set smtp"):
        _channel(engine, smtp_server, smtp_username="mailer").send(customer_id, "Hi", "B", maria)
    assert _rows(engine, "SELECT count(*) FROM email_message") == [(0,)]


@pytest.mark.parametrize(
    ("customer", "subject", "field"),
    [
        ({}, "Invoice\r\nBcc: everyone@example.com", "subject"),
        ({}, "Invoice\nX-Injected: 1", "subject"),
        ({"email": "ada@example.com\r\nBcc: eve@example.com"}, "Invoice", "to"),
        ({"email": "Ada <ada@example.com>, eve@example.com"}, "Invoice", "to"),
        ({"email": ""}, "Invoice", "to"),
    ],
)
def test_header_injection_and_bad_addresses_are_refused_before_anything_is_written(
    engine: Engine, smtp_server: SmtpServer, customer: dict[str, str], subject: str, field: str
) -> None:
    customer_id, maria = _setup(engine, **customer)
    with pytest.raises(InvalidInput) as refused:
        _channel(engine, smtp_server).send(customer_id, subject, "Body", maria)
    assert set(refused.value.errors) == {field}
    assert smtp_server.messages == []
    assert _rows(engine, "SELECT count(*) FROM email_message") == [(0,)]
    assert _rows(engine, "SELECT count(*) FROM activity_event") == [(0,)]
