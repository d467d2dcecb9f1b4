"""The change feed behind team mode's live refresh, on both databases: it names the
customers another connection changed, says "everything" after a bulk action or a
lost connection, and stays quiet for what changes no customer (a profile view)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.services.actor import Actor
from crm_tui.services.bulk_edit import BulkEditService
from crm_tui.services.change_feed import Changes, change_feed
from crm_tui.services.customer_edit import CustomerEditService
from crm_tui.services.profile import ProfileService
from tests.factories import add_customer

AGENT = Actor.agent("maria", display_name="Maria Lopez")


def _wait(feed: object, seconds: float = 3.0) -> Changes | None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        changes = feed.wait(timeout=0.5)  # type: ignore[attr-defined]
        if changes is not None:
            return changes
    return None


def test_the_feed_names_changed_customers_and_ignores_reads(engine: Engine) -> None:
    with engine.begin() as c:
        ada = add_customer(c, name="Ada", email="ada@example.com")
        bob = add_customer(c, name="Bob", email="bob@example.com")
    feed = change_feed(engine)
    try:
        assert feed.wait(timeout=0.3) is None
        ProfileService(engine).profile(bob, AGENT)  # a read: an audit entry, no change
        assert _wait(feed, 1.0) is None
        CustomerEditService(engine).add_tag(ada, "vip", AGENT)
        changes = _wait(feed)
        assert changes is not None and changes.customer_ids == {ada} and not changes.everything
        assert changes.touches(ada) and not changes.touches(bob)
    finally:
        feed.close()


def test_a_bulk_action_is_everything(engine: Engine) -> None:
    with engine.begin() as c:
        for n in range(150):
            add_customer(c, name=f"Customer {n}", email=f"c{n}@example.com")
    feed = change_feed(engine)
    try:
        selection = sa.select(sa.table("customer", sa.column("id")).c.id)
        BulkEditService(engine).add_tag(selection, "winback", AGENT)
        changes = _wait(feed)
        assert changes is not None and changes.everything and changes.touches(12345)
    finally:
        feed.close()


def test_a_lost_listener_comes_back_and_says_everything(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite polls a connection of its own")
    with engine.begin() as c:
        ada = add_customer(c, name="Ada", email="ada@example.com")
    feed = change_feed(engine)
    try:
        pid = feed.connection.info.backend_pid  # type: ignore[attr-defined]
        with engine.begin() as c:
            c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert feed.wait(timeout=0.5) is None  # the drop is noticed, quietly
        CustomerEditService(engine).add_tag(ada, "vip", AGENT)
        changes = _wait(feed)
        assert changes is not None and changes.everything  # what was missed is unknown
    finally:
        feed.close()
