"""A small, fixed customer base for the TUI tests, with hostile values among the customers."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from textual.pilot import Pilot

from crm_tui.app import CrmApp
from crm_tui.config import Settings
from crm_tui.models.enums import AgentRole
from crm_tui.services.actor import Actor
from crm_tui.services.agents import register_agent
from crm_tui.services.database import create_db_engine
from tests.conftest import empty_postgres_url
from tests.factories import T0, add_customer, add_plan, add_subscription

# Customer-supplied values an attacker (or an unlucky import) could put in the database.
HOSTILE_NAMES = {
    "markup_click": "[@click=app.quit]x[/]",
    "markup_close": "Acme [/ltd] [b]bold[/b]",
    "ansi": "Eve \x1b[31mred\x1b[0m \x1b[2J",
    "osc": "Mallory \x1b]52;c;cm0gLXJmIH4=\x07 clip",
    "c1": "C1 \x9b31m control",
    "bidi": "Bidi \u202egnp.exe\u202c ok",
    "zero_width": "Zero\u200bwidth\u2060joiner",
    "cjk": "王芳王芳王芳王芳王芳王芳王芳王芳王芳王芳",
    "emoji": "Emoji 👩‍💻🏳️‍🌈 person",
    "long": "L" + "o" * 300 + "ng",
}

BASE_COUNT = 240
# How long the app may take to answer: generous, for a CI machine running four workers on
# two cores (a wait ends as soon as the answer is there).
ANSWER_TIMEOUT = 30.0
DEMO_COUNT, DEMO_SEED = 60, 3


def _people(connection: Any) -> None:
    gold = add_plan(connection, "gold", name="Gold")
    silver = add_plan(connection, "silver", name="Silver", amount_minor=900)
    for number in range(BASE_COUNT):
        customer = add_customer(
            connection,
            name=f"Customer {number:03d}",
            email=f"customer{number:03d}@example.com",
            phone=f"+1 555 01{number:04d}",
            lifecycle_status=("active", "inactive", "churned")[number % 3],
            current_plan=("Gold", "Silver", "")[number % 3],
            has_active_subscription=number % 3 == 0,
            mrr_minor=(number % 3 == 0) * (4900 + number),
            ltv_minor=number * 1000,
            storefront=("web", "ios", "partner")[number % 3],
            region=("EU", "US")[number % 2],
            kind="business" if number % 10 == 0 else "individual",
            company_name=f"Company {number:03d} Ltd" if number % 10 == 0 else "",
            billing_group="enterprise" if number % 20 == 0 else "",
            registered_at=T0 - timedelta(days=number),
        )
        if number % 3 == 0:
            add_subscription(
                connection, customer, (gold, silver)[number % 2], provider_id=f"sub_T{number:05d}"
            )
    add_customer(
        connection,
        name="Ada Lovelace",
        email="ada@analytical.org",
        current_plan="Gold",
        lifecycle_status="active",
        has_active_subscription=True,
        mrr_minor=8900,
        ltv_minor=214200,
        kind="business",
        company_name="Analytical Engines",
        vat_id="GB123456789",
        payment_terms="net_30",
    )
    for key, name in HOSTILE_NAMES.items():
        add_customer(connection, name=name, email=f"{key}@hostile.example", storefront="web")


def _with_people(url: str) -> str:
    engine = create_db_engine(url)
    with engine.begin() as connection:
        _people(connection)
    engine.dispose()
    return url


@pytest.fixture
def directory_url(db_url: str) -> str:
    """The directory's people, on SQLite and then on PostgreSQL (team mode)."""
    return _with_people(db_url)


@pytest.fixture
def sqlite_directory_url(sqlite_url: str) -> str:
    """The same on SQLite only: snapshots (the screen does not depend on the engine)."""
    return _with_people(sqlite_url)


def make_app(
    url: str, login: str = "tester", role: AgentRole = AgentRole.ADMIN, **settings: Any
) -> CrmApp:
    """The app as `login` would start it; `login` is made an agent of the database first
    (in `role`) unless the database is not created yet (then they are its first person)."""
    ensure_agent(url, login, role)
    return CrmApp(Settings(database_url=url, **settings), actor=Actor.agent(login))


def ensure_agent(url: str, login: str, role: AgentRole = AgentRole.ADMIN) -> Actor:
    """`login` as an agent of the database at `url`, added in `role` if missing."""
    try:
        engine = create_db_engine(url)
        try:
            if sa.inspect(engine).has_table("agent"):
                return register_agent(engine, Actor.agent(login, role=role))
        finally:
            engine.dispose()
    except (sa.exc.SQLAlchemyError, OSError):  # a test of a database that cannot open
        pass
    return Actor.agent(login, role=role)


async def wait_for_rows(pilot: Pilot[Any], timeout: float = ANSWER_TIMEOUT) -> None:
    """Wait until the directory shows the answer to its latest query, count included."""
    app = pilot.app
    waited = 0.0
    while waited < timeout:
        await pilot.pause(0.02)
        waited += 0.02
        screen = getattr(app, "directory", None)
        if screen is None or screen.service is None:
            continue
        busy = any(w.is_running for w in app.workers if w.group.startswith("directory"))
        if not busy and screen.match_count is not None:
            await pilot.pause()
            return
    raise AssertionError("the directory did not answer in time")


@pytest.fixture
def app(directory_url: str) -> CrmApp:
    return make_app(directory_url)


@pytest.fixture(scope="session")
def demo_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with 60 demo customers (the showcase ones at ids 1–4)."""
    from crm_tui.services.demo_seed import seed_demo

    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}")
    seed_demo(engine, DEMO_COUNT, seed=DEMO_SEED)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_url(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path) -> str:
    """The 60 demo customers, on SQLite and then on PostgreSQL (seeding 60 takes ~0.2 s)."""
    if request.param == "sqlite":
        return _copy_of(demo_template, tmp_path)
    from crm_tui.services.demo_seed import seed_demo

    url = empty_postgres_url(request)
    engine = create_db_engine(url)
    seed_demo(engine, DEMO_COUNT, seed=DEMO_SEED)
    engine.dispose()
    return url


@pytest.fixture
def sqlite_demo_url(demo_template: Path, tmp_path: Path) -> str:
    """The same on SQLite only: snapshots (the screen does not depend on the engine)."""
    return _copy_of(demo_template, tmp_path)


def _copy_of(template: Path, folder: Path) -> str:
    path = folder / "demo.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


class _FixedClock(datetime):
    """The audit trail's clock, stopped: "Viewed by … at …" is drawn on profiles."""

    @classmethod
    def now(cls, tz: Any = None) -> _FixedClock:
        return cls(2026, 11, 2, 9, 15, tzinfo=tz or UTC)


def views_at_a_fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshots: every profile read recorded at one time, so the screens do not move."""
    from crm_tui.services import audit

    monkeypatch.setattr(audit, "datetime", _FixedClock)


def screen_text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def open_profile(pilot: Pilot[Any], customer_id: int, timeout: float = ANSWER_TIMEOUT) -> Any:
    """Open a customer's profile from the directory and wait until it shows them."""
    await wait_for_rows(pilot)
    pilot.app.open_customer(customer_id)  # type: ignore[attr-defined]
    return await wait_for_profile(pilot, timeout)


async def wait_for_profile(
    pilot: Pilot[Any], timeout: float = ANSWER_TIMEOUT, *, previous: Any = None
) -> Any:
    """Wait until the profile on screen has (re)loaded: data in (other than `previous`),
    no worker running."""
    from crm_tui.screens.profile import ProfileScreen

    waited = 0.0
    while waited < timeout:
        await pilot.pause(0.02)
        waited += 0.02
        screen = pilot.app.screen
        if not isinstance(screen, ProfileScreen) or screen.profile in (None, previous):
            continue
        if not screen.complete and "There is no customer" not in screen_text(pilot.app):
            continue
        if not busy(screen):
            await pilot.pause()
            return screen
    raise AssertionError("the profile did not load in time")


def busy(node: Any) -> bool:
    """True while a worker of `node` itself runs (`node.workers` lists the whole app's,
    and the app's change watcher always runs)."""
    return any(w.is_running and w.node is node for w in node.workers)


async def until(pilot: Pilot[Any], check: Any, timeout: float = 60.0) -> None:
    """Let the app run until `check()` holds (workers answer in their own time)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError("timed out")
