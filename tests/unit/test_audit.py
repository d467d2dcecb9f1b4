"""The hash-chained audit trail: appends chain, and `verify` names the first entry
that was edited, deleted or reordered directly in the database."""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.audit import GENESIS_HASH, AuditLog
from tests.factories import T0, add_customer

_audit = t.SQLModel.metadata.tables["audit_entry"]
_customer = t.SQLModel.metadata.tables["customer"]
ANA = Actor.agent("ana", agent_id=None)


def _five(engine: Engine) -> AuditLog:
    log = AuditLog(engine)
    for n in range(1, 6):
        log.record(ANA, "customer.view", customer_id=n, details={"n": n, "name": "Zoë «x»"})
    return log


def test_entries_chain_from_genesis(engine: Engine) -> None:
    log = _five(engine)
    entries = list(reversed(log.entries()))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    report = log.verify()
    assert report.ok and report.checked == 5 and report.head_hash == entries[-1].hash


def test_entries_filter_by_customer_and_agent(engine: Engine) -> None:
    log = _five(engine)
    log.record(Actor.agent("ben"), "customer.view", customer_id=3)
    assert [e.agent_username for e in log.entries(customer_id=3)] == ["ben", "ana"]
    assert len(log.entries(agent="ana")) == 5


def test_an_append_rolls_back_with_its_action(engine: Engine) -> None:
    log = _five(engine)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        audit.append(connection, ANA, "customer.tag", customer_id=1)
        raise RuntimeError("the action failed")
    assert log.verify().checked == 5


def test_an_edited_entry_is_named(engine: Engine) -> None:
    log = _five(engine)
    with engine.begin() as c:
        c.execute(sa.update(_audit).where(_audit.c.seq == 3).values(action="customer.refund"))
    report = log.verify()
    assert not report.ok and report.bad_seq == 3 and "changed" in report.problem


def test_an_edited_detail_is_named(engine: Engine) -> None:
    log = _five(engine)
    with engine.begin() as c:
        c.execute(sa.update(_audit).where(_audit.c.seq == 2).values(details={"n": 99}))
    assert log.verify().bad_seq == 2


def test_a_deleted_entry_is_named(engine: Engine) -> None:
    log = _five(engine)
    with engine.begin() as c:
        c.execute(sa.delete(_audit).where(_audit.c.seq == 2))
    report = log.verify()
    assert report.bad_seq == 3 and "missing" in report.problem


def test_a_deleted_and_renumbered_entry_is_named(engine: Engine) -> None:
    # Deleting 2 and moving 3..5 down one hides the gap; the chain still breaks at 2.
    log = _five(engine)
    with engine.begin() as c:
        c.execute(sa.delete(_audit).where(_audit.c.seq == 2))
        for seq in (3, 4, 5):
            c.execute(sa.update(_audit).where(_audit.c.seq == seq).values(seq=seq - 1))
    report = log.verify()
    assert report.bad_seq == 2 and "follow" in report.problem


def test_reordered_entries_are_named(engine: Engine) -> None:
    log = _five(engine)
    with engine.begin() as c:
        c.execute(sa.update(_audit).where(_audit.c.seq == 2).values(seq=-2))
        c.execute(sa.update(_audit).where(_audit.c.seq == 4).values(seq=2))
        c.execute(sa.update(_audit).where(_audit.c.seq == -2).values(seq=4))
    assert log.verify().bad_seq == 2


def test_concurrent_appends_keep_one_chain(engine: Engine) -> None:
    log = AuditLog(engine)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for n in range(15):
                log.record(Actor.agent(name), "customer.view", customer_id=n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(f"agent{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = log.verify()
    assert report.ok and report.checked == 60


def _erase(engine: Engine, customer_id: int) -> None:
    with engine.begin() as c:
        c.execute(sa.update(_customer).where(_customer.c.id == customer_id).values(erased_at=T0))
        audit.redact_customer(c, customer_id)


def test_an_erased_customers_entries_lose_their_content_and_the_chain_holds(
    engine: Engine,
) -> None:
    with engine.begin() as c:
        ada = add_customer(c, name="Ada", email="ada@example.com")
        bob = add_customer(c, name="Bob", email="bob@example.com")
    log = AuditLog(engine)
    log.record(ANA, "customer.edit", customer_id=ada, before={"email": "ada@example.com"})
    log.record(ANA, "customer.edit", customer_id=bob, before={"email": "bob@example.com"})
    log.record(ANA, "customer.view", customer_id=ada, details={"name": "Ada"})
    _erase(engine, ada)
    entries = {e.seq: e for e in log.entries()}
    assert entries[1].redacted and entries[3].redacted and not entries[2].redacted
    assert entries[1].before is None and entries[3].details == {"redacted": True}
    assert entries[2].before == {"email": "bob@example.com"}
    with engine.connect() as c:
        text = " ".join(str(row) for row in c.execute(sa.select(_audit)))
    assert "ada@example.com" not in text and "'Ada'" not in text
    assert log.verify().ok


def test_a_redaction_of_a_customer_not_erased_is_caught(engine: Engine) -> None:
    with engine.begin() as c:
        bob = add_customer(c, name="Bob", email="bob@example.com")
    log = AuditLog(engine)
    log.record(ANA, "customer.view", customer_id=bob)
    log.record(ANA, "customer.edit", customer_id=bob, before={"phone": "1"})
    with engine.begin() as c:
        audit.redact_customer(c, bob)  # hiding what was done, without an erasure
    report = log.verify()
    assert report.bad_seq == 1 and "never erased" in report.problem


def test_content_edited_to_match_nothing_is_caught_even_with_the_digest_kept(
    engine: Engine,
) -> None:
    log = _five(engine)
    with engine.begin() as c:
        c.execute(sa.update(_audit).where(_audit.c.seq == 4).values(before={"x": 1}))
    assert log.verify().bad_seq == 4
