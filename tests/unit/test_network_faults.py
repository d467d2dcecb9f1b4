"""Faults on the wire: a real TCP proxy between the app and localstripe, and between
the app and PostgreSQL (issue 7). Each test ends with the store matching the
provider: one refund at Stripe, one here; a write cut midway is all or nothing.

(The HTTP-level faults — 500, 429 with Retry-After — are the localstripe fixture's
switches, tests/unit/test_stripe_faults.py; this file breaks the connection itself.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from crm_tui.models import tables as t
from crm_tui.services import bulk_edit
from crm_tui.services.actor import Actor
from crm_tui.services.bulk_edit import BulkEditService
from crm_tui.services.database import create_db_engine
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from crm_tui.services.providers.stripe import ATTEMPTS, StripeProvider
from crm_tui.services.refunds import RefundPending, RefundService
from tests.conftest import _truncate_all
from tests.factories import add_customer
from tests.support.tcp_proxy import TcpProxy, tcp_proxy
from tests.unit.stripe_world import AGENT, World

T = t.SQLModel.metadata.tables


def _refunded_at_stripe(world: World, charge: str) -> int:
    return int(world.stripe.get("charge", charge)["amount_refunded"])


@pytest.fixture
def stripe_proxy(world: World) -> Iterator[TcpProxy]:
    url = make_url(world.stripe.url.replace("http://", "postgresql://"))  # host and port
    with tcp_proxy(str(url.host), int(url.port or 80)) as proxy:
        yield proxy


def _provider(world: World, proxy: TcpProxy, timeout: float = 2) -> StripeProvider:
    provider = StripeProvider(
        world.stripe.api_key, api_base=f"http://127.0.0.1:{proxy.port}", timeout=timeout
    )
    provider.sleep = lambda _seconds: None  # type: ignore[method-assign]
    return provider


@pytest.mark.parametrize("fault", ["reset", "drop", "slow"])
def test_a_broken_connection_is_retried_and_the_refund_happens_once(
    world: World, stripe_proxy: TcpProxy, fault: str
) -> None:
    payment = world.payment(world.ann)
    stripe_proxy.fail_next(fault, delay=3)  # "slow": past the client's 2 s
    done = RefundService(world.engine, {"stripe": _provider(world, stripe_proxy)}).refund(
        payment.id, 300, "Goodwill after the outage", AGENT
    )
    assert done.amount_minor == 300
    assert _refunded_at_stripe(world, payment.provider_id) == 300  # once, not twice
    (row,) = world.local("payment", id=payment.id)
    assert row.refunded_minor == 300
    (refund,) = world.local("refund", payment_id=payment.id)
    assert refund.provider_id == done.provider_refund_id


def test_a_lasting_drop_stays_pending_then_settles_to_what_stripe_did(
    world: World, stripe_proxy: TcpProxy
) -> None:
    payment = world.payment(world.ann)
    for _ in range(ATTEMPTS + 1):  # every attempt reaches Stripe; no answer comes back
        stripe_proxy.fail_next("drop")
    refunds = RefundService(world.engine, {"stripe": _provider(world, stripe_proxy)})
    with pytest.raises(RefundPending):
        refunds.refund(payment.id, 300, "Goodwill after the outage", AGENT)
    assert _refunded_at_stripe(world, payment.provider_id) == 300  # Stripe did it, once
    assert world.local("refund", payment_id=payment.id) == []  # not recorded as done yet
    world.refunds().reconcile(AGENT)  # directly: the network is back
    (row,) = world.local("payment", id=payment.id)
    assert row.refunded_minor == _refunded_at_stripe(world, payment.provider_id) == 300
    assert len(world.local("refund", payment_id=payment.id)) == 1


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture
def proxied_pg(postgres_database: str) -> Iterator[tuple[Engine, TcpProxy]]:
    direct = create_db_engine(postgres_database)
    _truncate_all(direct)
    with direct.begin() as c:
        for n in range(120):
            add_customer(c, name=f"Member {n:03d}", email=f"m{n}@example.com")
    direct.dispose()
    url = make_url(postgres_database)
    with tcp_proxy(str(url.host or "127.0.0.1"), int(url.port or 5432)) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port)
        engine = create_db_engine(through.render_as_string(hide_password=False))
        yield engine, proxy
        engine.dispose()


@pytest.mark.postgres
def test_a_cut_network_to_postgres_leaves_nothing_half_written(
    proxied_pg: tuple[Engine, TcpProxy], postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, proxy = proxied_pg
    monkeypatch.setattr(bulk_edit, "CHUNK", 40)
    directory = DirectoryService(engine)
    query = DirectoryQuery(search="member")
    assert directory.count(query, Actor.system()).value == 120
    selection = directory.marked_ids(query, set())

    def cut_after_the_first_chunk(done: int, _total: int) -> None:
        if done == 40:
            proxy.cut()

    with pytest.raises(sa.exc.OperationalError):
        BulkEditService(engine).add_tag(
            selection, "renewal", Actor.system(), progress=cut_after_the_first_chunk
        )
    direct = create_db_engine(postgres_database)
    with direct.connect() as c:  # the server rolled the cut transaction back
        assert c.execute(sa.select(sa.func.count()).select_from(T["customer_tag"])).scalar() == 0
        assert c.execute(sa.select(sa.func.count()).select_from(T["activity_event"])).scalar() == 0
    direct.dispose()
    assert directory.count(query, Actor.system()).value == 120  # reads reconnect on their own
    assert BulkEditService(engine).add_tag(selection, "renewal", Actor.system()).changed == 120
