"""Email templates and campaigns, through the real SMTP server of the tests
(aiosmtpd on 127.0.0.1), on a real SQLite file (and PostgreSQL where set)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services.actor import Actor
from crm_tui.services.audit import AuditLog
from crm_tui.services.campaigns import CampaignService
from crm_tui.services.email_channel import EmailChannel, EmailNotConfigured
from crm_tui.services.email_templates import TemplateProblem, TemplateService
from crm_tui.services.secrets import Secrets
from tests.factories import add_customer
from tests.support.smtp_server import SmtpServer

AGENT = Actor.agent("ana", agent_id=None, display_name="Ana")
_customer = t.SQLModel.metadata.tables["customer"]


def _everyone() -> sa.Select:  # type: ignore[type-arg]
    return sa.select(_customer.c.id)


def _people(engine: Engine, count: int) -> list[int]:
    with engine.begin() as c:
        return [
            add_customer(c, name=f"Person {n:02d} Last", email=f"p{n}@example.com")
            for n in range(count)
        ]


def _service(engine: Engine, smtp: SmtpServer, folder: Path) -> CampaignService:
    channel = EmailChannel(engine, smtp.settings(), Secrets(environ={}))
    return CampaignService(engine, channel, TemplateService(folder))


def test_a_team_template_renders_customer_fields_and_hostile_values_as_text(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "renewal.txt").write_text(
        "Subject: Your {{ plan }} renews, {{ first_name }}\n\nHi {{ name }}, LTV {{ ltv }}.\n"
    )
    with engine.begin() as c:
        customer = add_customer(c, name="{{ 7*7 }} Evil", email="e@example.com", ltv_minor=1234)
    templates = TemplateService(tmp_path)
    with engine.connect() as c:
        from crm_tui.services.email_templates import customer_fields

        email = templates.render(templates.template("renewal"), customer_fields(c, customer))
    assert email.subject == "Your renews, {{"  # the value is printed, never evaluated
    assert email.body == "Hi {{ 7*7 }} Evil, LTV $12.34.\n"
    assert [t.name for t in templates.templates()][-1] == "renewal"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Subject: Hi {{ frist_name }}\n\nx", "unknown field “frist_name”"),
        ("Subject: Hi\n\n{% if %}", "line 1"),
        ("No subject line\n\nbody", "must start with 'Subject: '"),
        ("Subject: {{ ''.__class__.__mro__ }}\n\nx", "unsafe"),
    ],
)
def test_a_bad_template_is_refused_with_where_and_why(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer, text: str, said: str
) -> None:
    (tmp_path / "bad.txt").write_text(text)
    _people(engine, 2)
    with pytest.raises(TemplateProblem) as refused:
        _service(engine, smtp_server, tmp_path).preview("bad", _everyone())
    assert said in str(refused.value)
    assert smtp_server.messages == []


def test_preview_counts_and_shows_what_the_first_customers_get(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    _people(engine, 5)
    with engine.begin() as c:
        add_customer(c, name="No Mail", email="")
    preview = _service(engine, smtp_server, tmp_path).preview("welcome", _everyone())
    assert (preview.recipients, preview.without_address, preview.already_sent) == (5, 1, 0)
    assert [name for name, _ in preview.examples] == [f"Person {n:02d} Last" for n in range(3)]
    assert preview.examples[0][1].subject == "Welcome, Person"
    assert smtp_server.messages == []  # a preview sends nothing


def test_a_campaign_reaches_everyone_once_and_resumes_after_a_stop(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    ids = _people(engine, 7)
    service = _service(engine, smtp_server, tmp_path)
    preview = service.preview("payment_failed", _everyone())
    asked = 0

    def stop_after_three() -> bool:
        nonlocal asked
        asked += 1
        return asked > 3

    first = service.send(preview, _everyone(), AGENT, should_stop=stop_after_three)
    assert (first.sent, first.stopped) == (3, True)
    again = service.preview("payment_failed", _everyone(), preview.campaign_id)
    assert (again.recipients, again.already_sent) == (4, 3)

    rest = service.send(again, _everyone(), AGENT)
    assert (rest.sent, rest.failed, rest.stopped) == (4, 0, False)
    received = sorted(m["To"] for m in smtp_server.messages)
    assert received == sorted(f"p{n}@example.com" for n in range(7))  # each exactly once
    with engine.connect() as c:
        events = c.execute(
            sa.select(t.ActivityEvent.__table__.c.customer_id)  # type: ignore[attr-defined]
        ).scalars()
        assert sorted(events) == ids  # one activity event per customer
    assert service.send(again, _everyone(), AGENT).sent == 0  # nothing left
    # One audit entry per run (the stopped one, the resumed one, the empty one).
    runs = AuditLog(engine).entries(action="customers.campaign")
    assert [entry.details["recipients"] for entry in runs] == [4, 4, 7]
    assert {entry.details["campaign_id"] for entry in runs} == {preview.campaign_id}


def test_a_server_going_down_stops_the_campaign_and_a_resume_sends_the_rest(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    _people(engine, 9)
    service = _service(engine, smtp_server, tmp_path)
    preview = service.preview("welcome", _everyone())

    def crash_after_four(done: int, _total: int) -> None:
        if done == 4:
            smtp_server.go_down()

    first = service.send(preview, _everyone(), AGENT, progress=crash_after_four)
    # Three refused connections in a row: the server, not the customers. It stops
    # there rather than failing the five left one by one.
    assert (first.sent, first.failed, first.stopped, first.server_failing) == (4, 3, True, True)
    assert first.unsent == 5
    assert "connection refused" in first.summary() and "5 not sent" in first.summary()
    assert len(smtp_server.messages) == 4
    smtp_server.come_back()
    again = service.preview("welcome", _everyone(), preview.campaign_id)
    assert (again.recipients, again.already_sent) == (5, 4)  # the unsent, listed
    rest = service.send(again, _everyone(), AGENT)
    assert (rest.sent, rest.failed, rest.stopped) == (5, 0, False)
    received = sorted(m["To"] for m in smtp_server.messages)
    assert received == sorted(f"p{n}@example.com" for n in range(9))  # each exactly once


def test_one_refused_address_does_not_stop_the_rest(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    _people(engine, 3)
    with engine.begin() as c:
        add_customer(c, name="Broken", email="not an address")
    service = _service(engine, smtp_server, tmp_path)
    report = service.send(service.preview("welcome", _everyone()), _everyone(), AGENT)
    assert (report.sent, report.failed) == (3, 1)
    assert "not one plain address" in report.failures[0]


def test_without_smtp_nothing_is_sent(engine: Engine, tmp_path: Path) -> None:
    from crm_tui.config import Settings

    _people(engine, 2)
    channel = EmailChannel(engine, Settings(), Secrets(environ={}))
    service = CampaignService(engine, channel, TemplateService(tmp_path))
    preview = service.preview("welcome", _everyone())
    with pytest.raises(EmailNotConfigured):
        service.send(preview, _everyone(), AGENT)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM email_message")).scalar() == 0
