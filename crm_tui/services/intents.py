"""Provider calls through stored intents: never done twice, never silently lost.

An action (pause, credit, plan change, ...) runs in three steps:

1. `open`: in one transaction, the action's own checks run (with the rows it
   touches locked) and an intent is stored with a fresh idempotency key.
2. The provider is called with that key.
3. `complete`: in one transaction, the action's local changes, an activity event
   and the intent marked succeeded. A refusal marks the intent failed and
   changes nothing else; an unknown outcome (timeout, crash) leaves it pending.

A pending intent is settled by asking the provider again with the same key:
Stripe and PayPal replay the first answer for a key they have seen, and do the
work once for a key they have not, so the action the agent asked for happens
exactly once. (Refunds have their own settling by lookup: services/refunds.py.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, IntentStatus
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.permissions import Permission, authorize
from crm_tui.services.providers.base import FailureKind, PaymentProvider, ProviderError

_TABLES = tables.SQLModel.metadata.tables
_intent = _TABLES["provider_intent"]
_event = _TABLES["activity_event"]
T = TypeVar("T")


class ActionFailed(Exception):
    """The provider refused, or the action cannot be done: nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ActionPending(Exception):
    """No answer from the provider: the intent stays pending and is settled later."""

    def __init__(self, intent_id: int, message: str) -> None:
        super().__init__(message)
        self.intent_id = intent_id
        self.message = message


@dataclass(frozen=True)
class ActionDone:
    intent_id: int | None
    summary: str  # what happened, for the agent and the activity log


# Turns (provider, payload, key) into the provider's answer.
ProviderCall = Callable[[PaymentProvider, dict[str, Any], str], Any]
# Writes the action's local changes; returns the activity summary.
LocalChange = Callable[[Connection, dict[str, Any], Any, Actor], str]


@dataclass(frozen=True)
class ActionKind:
    name: str
    call: ProviderCall
    apply: LocalChange
    activity: ActivityKind = ActivityKind.SUBSCRIPTION


class IntentRunner:
    def __init__(
        self,
        engine: Engine,
        providers: Mapping[str, PaymentProvider],
        kinds: Mapping[str, ActionKind],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.kinds = kinds
        self.now = clock or (lambda: datetime.now(UTC))

    def run(
        self,
        kind: str,
        customer_id: int,
        provider_name: str,
        payload: dict[str, Any],
        actor: Actor,
        check: Callable[[Connection], None] | None = None,
    ) -> ActionDone:
        intent_id, key = self.open(kind, customer_id, provider_name, payload, actor, check)
        answer = self.call(intent_id, kind, provider_name, payload, key)
        return self.complete(intent_id, answer, actor)

    def open(
        self,
        kind: str,
        customer_id: int,
        provider_name: str,
        payload: dict[str, Any],
        actor: Actor,
        check: Callable[[Connection], None] | None = None,
    ) -> tuple[int, str]:
        key = f"crm-{kind}-{uuid.uuid4()}"
        with self.engine.begin() as connection:
            # Before the provider is asked: a refused agent moves nothing anywhere.
            authorize(connection, actor, Permission.CHANGE, kind.replace("_", " "))
            if check is not None:
                check(connection)
            inserted = connection.execute(
                sa.insert(_intent).values(
                    idempotency_key=key,
                    customer_id=customer_id,
                    provider=provider_name,
                    action=kind,
                    payload=payload,
                    status=IntentStatus.PENDING.value,
                    result={},
                    error="",
                    created_at=self.now(),
                    agent_id=actor.agent_id,
                )
            ).inserted_primary_key
        assert inserted is not None
        return int(inserted[0]), key

    def call(
        self, intent_id: int, kind: str, provider_name: str, payload: dict[str, Any], key: str
    ) -> Any:
        """The provider's answer to an opened intent; ActionFailed or ActionPending otherwise."""
        return ask_provider(
            self.providers,
            provider_name,
            lambda provider: self.kinds[kind].call(provider, payload, key),
            intent_id=intent_id,
            refused=lambda reason: self.fail(intent_id, reason),
        )

    def fail(self, intent_id: int, reason: str) -> None:
        fail_intent(self.engine, intent_id, reason, self.now())

    def complete(self, intent_id: int, answer: Any, actor: Actor) -> ActionDone:
        with self.engine.begin() as connection:
            intent = connection.execute(
                sa.select(_intent).where(_intent.c.id == intent_id).with_for_update()
            ).one()
            if intent.status != IntentStatus.PENDING.value:
                raise ActionFailed(f"intent {intent_id} was already settled ({intent.status})")
            kind = self.kinds[intent.action]
            payload = dict(intent.payload or {})
            summary = kind.apply(connection, payload, answer, actor)
            record_activity(
                connection,
                intent.customer_id,
                kind.activity,
                actor,
                summary,
                {
                    "action": intent.action,
                    "provider": intent.provider,
                    "idempotency_key": intent.idempotency_key,
                },
                self.now(),
            )
            connection.execute(
                sa.update(_intent)
                .where(_intent.c.id == intent_id)
                .values(
                    status=IntentStatus.SUCCEEDED.value,
                    result={"summary": summary},
                    settled_at=self.now(),
                )
            )
        return ActionDone(intent_id, summary)

    def reconcile(self, actor: Actor) -> list[str]:
        """Settle every pending intent of these kinds by asking again with the same key."""
        with self.engine.connect() as connection:
            pending = list(
                connection.execute(
                    sa.select(_intent).where(
                        _intent.c.status == IntentStatus.PENDING.value,
                        _intent.c.action.in_(list(self.kinds)),
                    )
                )
            )
        report = []
        for intent in pending:
            try:
                answer = self.call(
                    intent.id,
                    intent.action,
                    intent.provider,
                    dict(intent.payload or {}),
                    intent.idempotency_key,
                )
                done = self.complete(intent.id, answer, actor)
                report.append(f"intent {intent.id} ({intent.action}): done — {done.summary}")
            except ActionPending as pending_error:
                report.append(
                    f"intent {intent.id} ({intent.action}): still pending — {pending_error.message}"
                )
            except ActionFailed as failed:
                report.append(f"intent {intent.id} ({intent.action}): refused — {failed.message}")
        return report


def ask_provider(
    providers: Mapping[str, PaymentProvider],
    provider_name: str,
    call: Callable[[PaymentProvider], T],
    *,
    intent_id: int,
    refused: Callable[[str], None],
    what: str = "action",
    never: str = "done twice",
    pending: type[ActionPending] = ActionPending,
    failed: type[ActionFailed] = ActionFailed,
) -> T:
    """Make the provider call of an opened intent and sort its outcome.

    A refusal runs `refused` (the intent is failed) and raises `failed`; an unknown
    outcome (unreachable, a timeout, a dropped connection) raises `pending` and
    leaves the intent as it is, for reconcile to settle."""
    provider = providers.get(provider_name)
    try:
        if provider is None:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED, f"no provider '{provider_name}' is set up"
            )
        return call(provider)
    except ProviderError as error:
        if error.outcome_unknown:
            raise pending(
                intent_id,
                f"{error.message}. The {what} is pending: it will be settled with "
                f"{provider_name} (crm-tui reconcile), never {never}.",
            ) from error
        refused(error.message)
        raise failed(error.message) from error
    except Exception as error:  # a timeout, a dropped connection: outcome unknown
        raise pending(
            intent_id,
            f"no answer from {provider_name} ({type(error).__name__}). The {what} is "
            f"pending and will be settled (crm-tui reconcile), never {never}.",
        ) from error


def fail_intent(engine: Engine, intent_id: int, reason: str, when: datetime) -> None:
    """A pending intent the provider refused: failed, with the provider's reason."""
    with engine.begin() as connection:
        connection.execute(
            sa.update(_intent)
            .where(_intent.c.id == intent_id, _intent.c.status == IntentStatus.PENDING.value)
            .values(status=IntentStatus.FAILED.value, error=reason[:2000], settled_at=when)
        )


SUMMARY_MAX = 400  # characters of an activity summary


def insert_event(
    connection: Connection,
    customer_id: int,
    kind: ActivityKind,
    actor: Actor,
    summary: str,
    details: dict[str, Any],
    when: datetime,
) -> None:
    """The activity event alone (no permission check, no audit entry): for the writers
    that make those themselves — `record_activity` below, the details form (with its
    before/after), a customer's own consent, an erasure, an export."""
    connection.execute(
        sa.insert(_event).values(
            customer_id=customer_id,
            occurred_at=when,
            kind=kind.value,
            actor_type=actor.type.value,
            agent_id=actor.agent_id,
            summary=summary[:SUMMARY_MAX],
            details=details,
        )
    )


def record_activity(
    connection: Connection,
    customer_id: int,
    kind: ActivityKind,
    actor: Actor,
    summary: str,
    details: dict[str, Any],
    when: datetime,
    permission: Permission = Permission.CHANGE,
    audit_action: str | None = None,
) -> None:
    """One event in the customer's history, and its audit entry, in the caller's transaction.

    Every change to a customer passes here, so this is also the last line of the
    permission check: an actor who may not `permission` (a read-only or disabled
    agent) is refused, and the caller's transaction, with whatever it wrote, rolls
    back. The services check first, with their own words; this catches what one forgot.
    """
    authorize(connection, actor, permission, f"{permission.value} ({kind.value})")
    insert_event(connection, customer_id, kind, actor, summary, details, when)
    audit.record_change(
        connection,
        actor,
        customer_id,
        kind.value,
        summary[:SUMMARY_MAX],
        details,
        when,
        action=audit_action,
    )
