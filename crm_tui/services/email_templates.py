"""Email templates: Jinja2, rendered in its sandbox with a customer's fields.

Built-in templates live here; a team adds its own as text files in the config
folder's `templates/` (`NAME.txt`: a first line `Subject: ...`, a blank line,
then the body). Rendering is strict: a misspelt field (`{{ frist_name }}`) is an
error naming it, never an empty gap in an email to thousands of customers. The
customer's values are data, not template: a name that contains `{{ ... }}` is
printed as typed. Bodies are plain text, so nothing is HTML-escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.engine import Connection

from crm_tui.config import config_dir
from crm_tui.formatting import format_money
from crm_tui.services.profile import customer_row

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")
MAX_TEMPLATE_BYTES = 64_000

FIELDS = {
    "customer_id": "the customer's number",
    "name": "full name",
    "first_name": "the first word of the name",
    "email": "email address",
    "company": "company name (business customers)",
    "plan": "current plan",
    "ltv": "lifetime value, with its currency",
    "mrr": "monthly revenue, with its currency",
    "country": "country code",
}


class TemplateProblem(ValueError):
    """A template that cannot be used, and why (with its line where known)."""


@dataclass(frozen=True)
class EmailTemplate:
    name: str
    subject: str
    body: str
    built_in: bool = False


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


BUILT_IN: tuple[EmailTemplate, ...] = (
    EmailTemplate(
        "payment_failed",
        "Your payment for {{ plan or 'your subscription' }} did not go through",
        "Hello {{ first_name }},\n\nwe could not collect your last payment. Please check "
        "the card or account you pay with; we will try again in a few days.\n\n"
        "If you have questions, just reply to this email.\n\nKind regards\n",
        built_in=True,
    ),
    EmailTemplate(
        "welcome",
        "Welcome, {{ first_name }}",
        "Hello {{ first_name }},\n\nthank you for choosing {{ plan or 'us' }}. If anything "
        "is unclear, reply to this email and a person will answer.\n\nKind regards\n",
        built_in=True,
    ),
    EmailTemplate(
        "win_back",
        "We would like you back, {{ first_name }}",
        "Hello {{ first_name }},\n\nwe noticed you left. If something did not work for "
        "you, we would like to hear it — just reply.\n\nKind regards\n",
        built_in=True,
    ),
)


class TemplateService:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or config_dir() / "templates"
        self.env = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )

    def templates(self) -> list[EmailTemplate]:
        """The built-in templates, then the team's files, by name. A file that cannot
        be read is left out here and reported by `template(name)`."""
        found = {t.name: t for t in BUILT_IN}
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.txt")):
                try:
                    found[path.stem] = self._read(path)
                except TemplateProblem:
                    continue
        return sorted(found.values(), key=lambda t: (not t.built_in, t.name))

    def template(self, name: str) -> EmailTemplate:
        if not NAME.fullmatch(name):
            raise TemplateProblem(f"“{name}” is not a template name (a-z, 0-9, _ and -)")
        path = self.folder / f"{name}.txt"
        if path.is_file():
            return self._read(path)
        for template in BUILT_IN:
            if template.name == name:
                return template
        raise TemplateProblem(f"there is no template “{name}”")

    def _read(self, path: Path) -> EmailTemplate:
        where = f"{path.name}"
        if not NAME.fullmatch(path.stem):
            raise TemplateProblem(f"{where}: the name may hold only a-z, 0-9, _ and -")
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise TemplateProblem(f"{where}: cannot be read ({error.strerror})") from None
        if len(raw) > MAX_TEMPLATE_BYTES:
            raise TemplateProblem(f"{where}: larger than {MAX_TEMPLATE_BYTES:,} bytes")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise TemplateProblem(f"{where}: not UTF-8 text") from None
        first, _, rest = text.replace("\r\n", "\n").partition("\n")
        if not first.lower().startswith("subject:"):
            raise TemplateProblem(f"{where}, line 1: must start with 'Subject: '")
        subject = first.split(":", 1)[1].strip()
        if not subject:
            raise TemplateProblem(f"{where}, line 1: the subject is empty")
        body = rest[1:] if rest.startswith("\n") else rest
        return EmailTemplate(path.stem, subject, body)

    # -------------------------------------------------------------- rendering

    def check(self, template: EmailTemplate) -> None:
        """Refuse a template with a syntax error or an unknown field, before anything
        is sent — rendered once with every field present."""
        self.render(template, {name: "x" for name in FIELDS})

    def render(self, template: EmailTemplate, fields: dict[str, Any]) -> RenderedEmail:
        try:
            subject = self.env.from_string(template.subject).render(fields)
            body = self.env.from_string(template.body).render(fields)
        except TemplateError as error:
            line = getattr(error, "lineno", None)
            where = f"line {line}: " if line else ""
            raise TemplateProblem(f"template “{template.name}”, {where}{_said(error)}") from None
        subject = " ".join(subject.split())
        if not subject:
            raise TemplateProblem(f"template “{template.name}”: the subject renders empty")
        return RenderedEmail(subject[:200], body)


def customer_fields(connection: Connection, customer_id: int) -> dict[str, Any]:
    """What a template can use about one customer (FIELDS)."""
    row = customer_row(connection, customer_id)
    name = str(row.name or "")
    return {
        "customer_id": row.id,
        "name": name,
        "first_name": name.split()[0] if name.split() else "",
        "email": row.email,
        "company": row.company_name,
        "plan": row.current_plan,
        "ltv": format_money(row.ltv_minor, row.currency),
        "mrr": format_money(row.mrr_minor, row.currency),
        "country": row.country,
    }


def _said(error: TemplateError) -> str:
    text = str(error.message or error)
    if "is undefined" in text:
        field = text.split("'")[1] if text.count("'") >= 2 else text
        return f"unknown field “{field}” (fields: {', '.join(FIELDS)})"
    return text
