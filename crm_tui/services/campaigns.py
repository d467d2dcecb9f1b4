"""Campaigns: one email template sent to many customers, in resumable batches.

A campaign has an id (made at preview time). Every message it sends carries the
id (`email_message.campaign_id`), so sending again with the same id skips the
customers already sent to: a run that was cancelled, or killed, resumes where it
stopped and nobody gets the email twice. Customers without an address, and
customers whose message the mail server refused, are counted, not retried
silently (a failed message stays retryable from the profile).

Who receives it is a SQL subquery of customer ids (a marked selection, a queue),
read in batches by id, so a million recipients use flat memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables
from crm_tui.models.enums import EmailStatus
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.email_channel import EmailChannel, EmailFailed
from crm_tui.services.email_templates import (
    EmailTemplate,
    RenderedEmail,
    TemplateProblem,
    TemplateService,
    customer_fields,
)
from crm_tui.services.permissions import Permission, authorize

_T = tables.SQLModel.metadata.tables
_customer, _email = _T["customer"], _T["email_message"]

BATCH = 50
FAILING_AFTER = 3  # failures in a row that mean the server is failing, not the customers
EXAMPLES = 3

Progress = Callable[[int, int], None]  # done, total
StopCheck = Callable[[], bool]


def new_campaign_id() -> str:
    return f"cmp-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class CampaignPreview:
    campaign_id: str
    template: EmailTemplate
    recipients: int  # with an address, not yet sent this campaign
    without_address: int
    already_sent: int
    examples: tuple[tuple[str, RenderedEmail], ...]  # (customer name, what they get)

    def lines(self) -> list[str]:
        out = [f"Sends “{self.template.name}” to {self.recipients:,} customers."]
        if self.already_sent:
            out.append(f"{self.already_sent:,} already received it (this campaign): skipped.")
        if self.without_address:
            out.append(f"{self.without_address:,} have no email address: skipped.")
        return out


@dataclass
class CampaignReport:
    campaign_id: str
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    stopped: bool = False
    server_failing: bool = False  # stopped because message after message failed
    unsent: int = 0  # left for a resume, when stopped for a failing server
    failures: list[str] = field(default_factory=list)  # the first few reasons
    last_failure: str = ""

    def summary(self) -> str:
        text = f"Campaign {self.campaign_id}: {self.sent:,} sent"
        if self.server_failing:
            reason = self.last_failure or "the mail server failed"
            return (
                f"{text}; stopped: {FAILING_AFTER} messages in a row failed ({reason}). "
                f"{self.unsent:,} not sent: send the same template again to resume."
            )
        if self.failed:
            text += f", {self.failed:,} failed (retry them from each profile)"
        if self.skipped:
            text += f", {self.skipped:,} skipped"
        if self.stopped:
            text += " — stopped; send again to resume"
        return text


class CampaignService:
    def __init__(
        self, engine: Engine, channel: EmailChannel, templates: TemplateService | None = None
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.templates = templates or TemplateService()

    def preview(
        self, template_name: str, recipients: sa.Select[Any], campaign_id: str = ""
    ) -> CampaignPreview:
        """How many receive it, who is skipped, and what the first few get — rendered
        for real, so a template error shows here, before anything is sent."""
        template = self.templates.template(template_name)
        self.templates.check(template)
        campaign_id = campaign_id or new_campaign_id()
        ids = recipients.subquery()
        sent = self._sent(campaign_id)
        in_scope = _customer.c.id.in_(sa.select(ids.c[0]))
        has_address = sa.and_(_customer.c.email != "", _customer.c.erased_at.is_(None))
        with self.engine.connect() as connection:
            count = connection.execute(
                sa.select(
                    sa.func.count().filter(has_address & ~_customer.c.id.in_(sent)),
                    sa.func.count().filter(~has_address),
                    sa.func.count().filter(_customer.c.id.in_(sent)),
                ).where(in_scope)
            ).one()
            first = connection.execute(
                sa.select(_customer.c.id, _customer.c.name)
                .where(in_scope, has_address)
                .order_by(_customer.c.id)
                .limit(EXAMPLES)
            ).all()
            examples = tuple(
                (row.name, self.templates.render(template, customer_fields(connection, row.id)))
                for row in first
            )
        return CampaignPreview(
            campaign_id, template, int(count[0]), int(count[1]), int(count[2]), examples
        )

    def send(
        self,
        preview: CampaignPreview,
        recipients: sa.Select[Any],
        actor: Actor,
        *,
        should_stop: StopCheck | None = None,
        progress: Progress | None = None,
        describe: str = "",
    ) -> CampaignReport:
        """Send in batches of BATCH by customer id; stop between messages when asked."""
        self.channel.check_configured()  # EmailNotConfigured: nothing is sent
        self._audit(preview, actor, describe)
        report = CampaignReport(preview.campaign_id)
        ids = recipients.subquery()
        sent = self._sent(preview.campaign_id)
        after, done, failing = 0, 0, 0
        total = preview.recipients + preview.without_address
        while True:
            with self.engine.connect() as connection:
                batch = connection.execute(
                    sa.select(_customer.c.id, _customer.c.email, _customer.c.erased_at)
                    .where(
                        _customer.c.id.in_(sa.select(ids.c[0])),
                        _customer.c.id > after,
                        ~_customer.c.id.in_(sent),
                    )
                    .order_by(_customer.c.id)
                    .limit(BATCH)
                ).all()
            if not batch:
                return report
            for row in batch:
                if should_stop is not None and should_stop():
                    report.stopped = True
                    return report
                after = row.id
                done += 1
                if not row.email or row.erased_at is not None:
                    report.skipped += 1
                elif self._send_one(preview, row.id, actor, report):
                    failing = 0
                else:
                    failing += 1
                if progress is not None:
                    progress(done, total)
                if failing >= FAILING_AFTER:
                    # The server, not the customers: everyone after would fail the
                    # same way. Stop; what was not sent is sent on resume.
                    report.stopped = True
                    report.server_failing = True
                    report.unsent = total - report.sent - report.skipped
                    return report

    def _audit(self, preview: CampaignPreview, actor: Actor, describe: str) -> None:
        """One entry per run (a resumed campaign is a new run, by whoever resumes it);
        what each customer got is on their activity and in `email_message`."""
        with self.engine.begin() as connection:
            authorize(connection, actor, Permission.CHANGE, "email customers")
            audit.append(
                connection,
                actor,
                "customers.campaign",
                details={
                    "campaign_id": preview.campaign_id,
                    "template": preview.template.name,
                    "recipients": preview.recipients,
                    "already_sent": preview.already_sent,
                    "selection": describe,
                },
            )

    def _send_one(
        self, preview: CampaignPreview, customer_id: int, actor: Actor, report: CampaignReport
    ) -> bool:
        """Send one customer's message; False when it failed (counted in the report)."""
        try:
            with self.engine.connect() as connection:
                email = self.templates.render(
                    preview.template, customer_fields(connection, customer_id)
                )
            self.channel.send(
                customer_id,
                email.subject,
                email.body,
                actor,
                template=preview.template.name,
                campaign_id=preview.campaign_id,
                details={"campaign_id": preview.campaign_id},
            )
            report.sent += 1
            return True
        except (EmailFailed, TemplateProblem, InvalidInput) as error:
            # One customer's refusal (a bad address, the server saying no) does not
            # stop the campaign; it is counted and stays visible on their profile.
            report.failed += 1
            why = "; ".join(error.errors.values()) if isinstance(error, InvalidInput) else error
            report.last_failure = str(why)
            if len(report.failures) < 5:
                report.failures.append(f"customer #{customer_id}: {why}")
            return False

    @staticmethod
    def _sent(campaign_id: str) -> sa.Select[Any]:
        """Customers this campaign already reached (or is reaching: a queued row of a
        run that was killed mid-send is not sent twice)."""
        return sa.select(_email.c.customer_id).where(
            _email.c.campaign_id == campaign_id,
            _email.c.status.in_((EmailStatus.SENT.value, EmailStatus.QUEUED.value)),
        )
