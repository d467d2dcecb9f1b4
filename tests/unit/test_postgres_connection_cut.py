"""The PostgreSQL connection is cut (server restart, network blip, an admin's
pg_terminate_backend): the next read reconnects on its own; a write cut mid-way
is rolled back whole by the server, reported as an error, and can simply be done
again — nothing is half-written (issue 7)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services import bulk_edit
from crm_tui.services.actor import Actor
from crm_tui.services.bulk_edit import BulkEditService
from crm_tui.services.database import create_db_engine
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from tests.conftest import _truncate_all
from tests.factories import add_customer

pytestmark = pytest.mark.postgres
T = t.SQLModel.metadata.tables


def _cut_every_connection(url: str) -> int:
    """What a restarted server or a dropped network does to the app's pooled connections."""
    admin = create_db_engine(url)
    with admin.connect() as connection:
        cut = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    return int(cut)


@pytest.fixture
def pg_engine(postgres_database: str) -> Engine:
    engine = create_db_engine(postgres_database)
    _truncate_all(engine)
    with engine.begin() as c:
        for n in range(120):
            add_customer(c, name=f"Member {n:03d}", email=f"m{n}@example.com")
    return engine


def test_a_read_after_the_connection_was_cut_reconnects(
    pg_engine: Engine, postgres_database: str
) -> None:
    directory = DirectoryService(pg_engine)
    query = DirectoryQuery(search="member")
    assert directory.count(query, Actor.system()).value == 120
    assert _cut_every_connection(postgres_database) >= 1  # the pool's idle connection
    assert directory.count(query, Actor.system()).value == 120  # pre-ping: a new one


def test_a_write_cut_midway_leaves_nothing_and_can_be_done_again(
    pg_engine: Engine, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_edit, "CHUNK", 40)
    selection = DirectoryService(pg_engine).marked_ids(DirectoryQuery(search="member"), set())

    def cut_after_the_first_chunk(done: int, _total: int) -> None:
        if done == 40:
            _cut_every_connection(postgres_database)

    with pytest.raises(sa.exc.OperationalError):
        BulkEditService(pg_engine).add_tag(
            selection, "renewal", Actor.system(), progress=cut_after_the_first_chunk
        )
    with pg_engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(T["customer_tag"])).scalar() == 0
        assert c.execute(sa.select(sa.func.count()).select_from(T["activity_event"])).scalar() == 0
    report = BulkEditService(pg_engine).add_tag(selection, "renewal", Actor.system())
    assert report.changed == 120
