"""Times in the agent's zone, the customer's, or UTC (issue 8): the clocks, and a
timezone setting that is not one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crm_tui.config import ConfigError, load_settings
from crm_tui.time_zones import UTC_CLOCK, ZoneMode, clock_for, machine_zone, zone_named

LATE_PAYMENT = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_the_agents_zone_comes_from_the_setting_with_summer_time() -> None:
    clock = clock_for(ZoneMode.AGENT, "Europe/Berlin", "Asia/Tokyo")
    assert clock.label == "Europe/Berlin"
    assert clock.stamp(LATE_PAYMENT) == "2026-11-02 00:30 CET"
    assert clock.stamp(SUMMER) == "2026-07-01 10:00 CEST"


def test_the_customers_zone_moves_a_late_payment_to_their_next_day() -> None:
    clock = clock_for(ZoneMode.CUSTOMER, "Europe/Berlin", "Asia/Tokyo")
    assert clock.label == "customer's Asia/Tokyo"
    assert clock.day(LATE_PAYMENT) == "2026-11-02"
    assert clock.moment(LATE_PAYMENT) == "2026-11-02 08:30"
    assert UTC_CLOCK.day(LATE_PAYMENT) == "2026-11-01"


def test_a_plain_date_is_shown_as_it_is_and_nothing_as_nothing() -> None:
    clock = clock_for(ZoneMode.CUSTOMER, "", "Pacific/Kiritimati")
    assert clock.day(date(2026, 11, 1)) == "2026-11-01"
    assert clock.day(None) == clock.moment(None) == clock.stamp(None) == ""


def test_a_naive_time_is_read_as_the_utc_it_was_stored_in() -> None:
    clock = clock_for(ZoneMode.AGENT, "America/New_York", "")
    assert clock.moment(datetime(2026, 11, 1, 12, 0)) == "2026-11-01 07:00"


def test_utc_mode_ignores_both_zones() -> None:
    assert clock_for(ZoneMode.UTC, "Europe/Berlin", "Asia/Tokyo") is UTC_CLOCK
    assert UTC_CLOCK.stamp(LATE_PAYMENT) == "2026-11-01 23:30 UTC"


@pytest.mark.parametrize("unknown", ["", "Mars/Olympus_Mons", "../../etc/passwd", "/etc/passwd"])
def test_an_unknown_customer_zone_falls_back_to_utc_and_says_so(unknown: str) -> None:
    clock = clock_for(ZoneMode.CUSTOMER, "Europe/Berlin", unknown)
    assert clock.label == "UTC (customer's zone unknown)"
    assert clock.moment(LATE_PAYMENT) == "2026-11-01 23:30"
    assert zone_named(unknown) is None


def test_without_a_setting_the_agent_gets_their_sessions_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    assert machine_zone()[1] == "America/Sao_Paulo"
    clock = clock_for(ZoneMode.AGENT, "", "Asia/Tokyo")
    assert clock.label == "America/Sao_Paulo"
    assert clock.moment(LATE_PAYMENT) == "2026-11-01 20:30"


def test_the_modes_cycle_yours_customers_utc() -> None:
    assert ZoneMode.AGENT.next() is ZoneMode.CUSTOMER
    assert ZoneMode.CUSTOMER.next() is ZoneMode.UTC
    assert ZoneMode.UTC.next() is ZoneMode.AGENT


def test_a_timezone_setting_that_is_not_one_names_the_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('# mine\ntimezone = "Europe/Berlinn"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"timezone = 'Europe/Berlinn' is not a time zone") as bad:
        load_settings(environ={}, config_path=config)
    assert str(bad.value).startswith(f"{config}, line 2: ")
    with pytest.raises(ConfigError, match=r"^CRM_TIMEZONE"):
        load_settings(environ={"CRM_TIMEZONE": "CET+1"}, config_path=tmp_path / "none.toml")
    assert load_settings(environ={"CRM_TIMEZONE": "Asia/Tokyo"}).timezone == "Asia/Tokyo"
