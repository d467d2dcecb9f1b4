"""Which clock the screens show times in: the agent's own zone, the customer's, or UTC.

Times are stored in UTC. An agent reads them in their own zone by default — the
`timezone` setting (config.toml or CRM_TIMEZONE), else the zone of their session (TZ),
else the machine's — and `z` on a profile switches to the customer's zone (what "this
morning" meant to the customer) and to UTC (what the providers and the audit trail
say). A dates-only value (a renewal day) is shown as it is; a moment's date is the date
in the zone shown, so a payment at 23:30 UTC is on the next day in Tokyo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCALTIME = Path("/etc/localtime")


class ZoneMode(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    UTC = "utc"

    def next(self) -> ZoneMode:
        modes = list(ZoneMode)
        return modes[(modes.index(self) + 1) % len(modes)]


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone called `name` ("Europe/Berlin"), or None if there is none."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return None  # ZoneInfo reads files: only plain zone names
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def machine_zone() -> tuple[tzinfo, str]:
    """The zone of this session (TZ) or this machine (/etc/localtime), with its name."""
    named = zone_named(os.environ.get("TZ", "").removeprefix(":"))
    if named is not None:
        return named, named.key
    return _localtime()


@lru_cache(maxsize=1)
def _localtime() -> tuple[tzinfo, str]:
    """/etc/localtime, read once per process (every profile render asks)."""
    try:
        with LOCALTIME.open("rb") as file:
            local = ZoneInfo.from_file(file, key="localtime")
    except (OSError, ValueError):
        return UTC, "UTC"
    target = os.path.realpath(LOCALTIME)
    name = target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else "local time"
    return local, name


@dataclass(frozen=True)
class Clock:
    zone: tzinfo
    label: str  # said once per screen: "Europe/Berlin", "customer's Asia/Tokyo", "UTC"

    def moment(self, at: datetime | None) -> str:
        """'2026-11-01 10:30' in this clock's zone (the screen says which zone)."""
        return self._local(at).strftime("%Y-%m-%d %H:%M") if at else ""

    def stamp(self, at: datetime | None) -> str:
        """'2026-11-01 10:30 CET': a moment standing alone, with its zone."""
        if not at:
            return ""
        local = self._local(at)
        return f"{local:%Y-%m-%d %H:%M} {local.tzname() or self.label}"

    def day(self, value: date | datetime | None) -> str:
        """A moment's date in this zone; a plain date as it is."""
        if not value:
            return ""
        if isinstance(value, datetime):
            return self._local(value).strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d")

    def _local(self, at: datetime) -> datetime:
        aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # stored as UTC
        return aware.astimezone(self.zone)


UTC_CLOCK = Clock(UTC, "UTC")


def clock_for(mode: ZoneMode, agent_zone: str, customer_zone: str) -> Clock:
    """The clock of `mode`: the agent's zone (their setting, else the machine's), the
    customer's (UTC, said so, when theirs is unknown), or UTC."""
    if mode is ZoneMode.UTC:
        return UTC_CLOCK
    if mode is ZoneMode.CUSTOMER:
        zone = zone_named(customer_zone)
        if zone is None:
            return Clock(UTC, "UTC (customer's zone unknown)")
        return Clock(zone, f"customer's {zone.key}")
    zone = zone_named(agent_zone)
    if zone is not None:
        return Clock(zone, zone.key)
    local, name = machine_zone()
    return Clock(local, name)
