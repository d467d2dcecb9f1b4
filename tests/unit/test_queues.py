"""Saved queues and the named customer sets they open, through the directory's own
queries, on a real SQLite file (and PostgreSQL where configured)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.directory import DirectoryFilters, DirectoryQuery, DirectoryService, Sort
from crm_tui.services.queues import BUILT_IN, QueueService, filters_from_json, filters_to_json
from tests.factories import add_agent, add_customer, add_payment, add_refund

NOW = datetime.now(UTC)


def _names(engine: Engine, *sets: str, **filters: object) -> list[str]:
    query = DirectoryQuery(filters=DirectoryFilters(sets=sets, **filters))  # type: ignore[arg-type]
    service = DirectoryService(engine)
    rows = service.window(query, Actor.system(), limit=50)
    assert service.count(query, Actor.system()).value == len(rows)
    return sorted(row.name for row in rows)


def _insert(connection: sa.Connection, table: str, **values: object) -> int:
    result = connection.execute(sa.insert(t.SQLModel.metadata.tables[table]).values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


@pytest.fixture
def agents(engine: Engine) -> tuple[Actor, Actor]:
    with engine.begin() as c:
        ana = add_agent(c, "ana")
        ben = add_agent(c, "ben")
    return Actor.agent("ana", agent_id=ana), Actor.agent("ben", agent_id=ben)


# ------------------------------------------------------------------------ sets


def test_failed_payments_this_week(engine: Engine) -> None:
    with engine.begin() as c:
        for name, days_ago, status in (
            ("Six days", 6, "failed"),
            ("Eight days", 8, "failed"),
            ("Paid", 1, "succeeded"),
        ):
            customer = add_customer(c, name=name, email=f"{name[0]}{days_ago}@example.com")
            add_payment(c, customer, status=status, created_at=NOW - timedelta(days=days_ago))
    assert _names(engine, "failed_payments:7") == ["Six days"]
    assert _names(engine, "failed_payments:30") == ["Eight days", "Six days"]


def test_pending_refunds_come_from_intents_and_unsettled_refunds(engine: Engine) -> None:
    with engine.begin() as c:
        waiting = add_customer(c, name="Intent waiting", email="w@example.com")
        _insert(
            c,
            "provider_intent",
            customer_id=waiting,
            action="refund",
            provider="stripe",
            idempotency_key="k1",
            status="pending",
            payload={},
            created_at=NOW,
        )
        accepted = add_customer(c, name="Refund pending", email="p@example.com")
        add_refund(c, add_payment(c, accepted), 500, status="pending")
        done = add_customer(c, name="Refund done", email="d@example.com")
        add_refund(c, add_payment(c, done), 500, status="succeeded")
    assert _names(engine, "pending_refunds") == ["Intent waiting", "Refund pending"]


def test_follow_ups_due_until_a_newer_note(engine: Engine) -> None:
    today = NOW.date()
    with engine.begin() as c:
        for name, follow_up, later_note in (
            ("Due today", today, None),
            ("Due, handled", today - timedelta(days=2), NOW - timedelta(days=1)),
            ("Not yet", today + timedelta(days=1), None),
        ):
            customer = add_customer(c, name=name, email=f"{len(name)}{name[0]}@example.com")
            _insert(
                c,
                "note",
                customer_id=customer,
                type="call",
                summary="Call back",
                follow_up_on=follow_up,
                created_at=NOW - timedelta(days=10),
            )
            if later_note:
                _insert(
                    c,
                    "note",
                    customer_id=customer,
                    type="call",
                    summary="Called",
                    created_at=later_note,
                )
    assert _names(engine, "follow_ups_due") == ["Due today"]


def test_escalated_means_an_open_escalation(engine: Engine) -> None:
    with engine.begin() as c:
        for name, status in (("Open one", "open"), ("Resolved one", "resolved")):
            customer = add_customer(c, name=name, email=f"{status}@example.com")
            _insert(
                c,
                "escalation",
                customer_id=customer,
                reason="Threatens chargeback",
                status=status,
                raised_at=NOW,
            )
    assert _names(engine, "escalated") == ["Open one"]


def test_segments_combine_with_each_other_and_with_filters(engine: Engine) -> None:
    with engine.begin() as c:
        segment = {
            code: _insert(c, "segment", code=code, name=code, rule={})
            for code in ("at_risk", "high_value")
        }
        people = {
            "Risky VIP": ("at_risk", "high_value"),
            "Risky": ("at_risk",),
            "VIP business": ("high_value",),
        }
        for name, codes in people.items():
            kind = "business" if "business" in name else "individual"
            customer = add_customer(c, name=name, email=f"{len(name)}@example.com", kind=kind)
            for code in codes:
                _insert(
                    c,
                    "customer_segment",
                    customer_id=customer,
                    segment_id=segment[code],
                    computed_at=NOW,
                )
    assert _names(engine, "segment:at_risk") == ["Risky", "Risky VIP"]
    assert _names(engine, "segment:at_risk", "segment:high_value") == ["Risky VIP"]
    assert _names(engine, "segment:high_value", kind="business") == ["VIP business"]
    labels = DirectoryFilters(sets=("segment:at_risk", "failed_payments:7")).describe()
    assert labels == ["segment: At-risk", "failed payments, 7 days"]


# ---------------------------------------------------------------------- queues


def test_built_in_queues_all_open(engine: Engine) -> None:
    service = DirectoryService(engine)
    for queue in BUILT_IN:
        service.count(queue.query, Actor.system())  # every set name means something
    names = [q.name for q in QueueService(engine).queues(Actor.system())]
    for wanted in ("Failed payments this week", "Pending refunds", "Follow-ups due", "Escalated"):
        assert wanted in names


def test_a_saved_queue_survives_a_restart_and_is_its_owners(
    engine: Engine, agents: tuple[Actor, Actor]
) -> None:
    ana, ben = agents
    query = DirectoryQuery(
        search="acme",
        filters=DirectoryFilters(
            statuses=("active",),
            registered_from=date(2026, 1, 1),
            ltv_min_minor=10000,
            sets=("segment:high_value",),
        ),
        sort=Sort("ltv", True),
    )
    QueueService(engine).save("  My   VIPs ", query, ana)

    again = QueueService(engine)  # as after a restart
    mine = again.find("my vips", ana)
    assert mine is not None and not mine.built_in
    assert (mine.name, mine.query) == ("My VIPs", query)
    assert again.find("My VIPs", ben) is None  # another agent's list does not show it

    QueueService(engine).save("My VIPs", DirectoryQuery(search="other"), ana)  # replaces
    replaced = QueueService(engine).find("My VIPs", ana)
    assert replaced is not None and replaced.query.search == "other"
    assert [q.name for q in QueueService(engine).queues(ana) if not q.built_in] == ["My VIPs"]

    with pytest.raises(InvalidInput):
        QueueService(engine).delete(replaced.id or 0, ben)
    QueueService(engine).delete(replaced.id or 0, ana)
    assert QueueService(engine).find("My VIPs", ana) is None


@pytest.mark.parametrize(
    ("name", "field"),
    [("", "name"), ("x" * 61, "name"), ("bell\x07", "name"), ("Escalated", "name")],
)
def test_bad_queue_names_are_refused(
    engine: Engine, agents: tuple[Actor, Actor], name: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        QueueService(engine).save(name, DirectoryQuery(), agents[0])
    assert field in refused.value.errors
    assert [q for q in QueueService(engine).queues(agents[0]) if not q.built_in] == []


def test_an_unknown_set_is_refused_not_saved(engine: Engine, agents: tuple[Actor, Actor]) -> None:
    query = DirectoryQuery(filters=DirectoryFilters(sets=("segment:vip",)))
    with pytest.raises(InvalidInput) as refused:
        QueueService(engine).save("Typo", query, agents[0])
    assert "no segment 'vip'" in refused.value.errors["filters"]


def test_filters_round_trip_through_json_and_ignore_unknown_keys() -> None:
    filters = DirectoryFilters(
        plans=("Gold", "Silver"),
        kind="business",
        registered_to=date(2026, 3, 31),
        has_active_subscription=False,
        ltv_max_minor=0,
        sets=("escalated",),
    )
    data = filters_to_json(filters)
    assert filters_from_json(data) == filters
    assert filters_from_json({**data, "from_the_future": 1, "registered_from": "garbage"}) == (
        filters
    )
