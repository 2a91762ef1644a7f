"""The SLA terms a ticket is held to, and the calendars their minutes count in.

Pure (no store, no server): the hub's SLA engine (``hub.engines.sla_policy``, which reads the
contract and its policy from the hub's store) and the tablet's job card (``device_agent.views``,
which reads them from its replica) both call :func:`build`, so both hold a ticket to the same
targets.

Resolution order, later wins:

1. the seed table ``schema.sla_defaults.DEFAULT_TABLE`` (or the table a contract's overrides name);
2. the contract's ``sla_policy`` (its targets per priority, calendar, near-breach share, overdue
   multiple) — a priority the policy leaves out keeps the seed table's targets; a policy's row
   without ``onsite_min`` is no on-site commitment at that priority;
3. the contract's ``sla_overrides``: only the minutes and settings named.

A calendar that cannot be read falls back to 24x7 and says so (``problems``): an SLA is never
silently dropped because of a typing mistake in a policy.

Calendars: which minutes count toward an SLA target. A policy (or a contract's overrides) names
its calendar with a short spec:

``24x7``
    Every minute counts.

``business[:CC[-SUB]][;days=...][;hours=HH:MM-HH:MM][;tz=Area/City]``
    Working hours on working days, public holidays excepted.

    - ``CC[-SUB]``: the country (ISO 3166) and optional subdivision whose public holidays are
      days off, from the ``holidays`` package: ``GB`` (England & Wales, the default subdivision
      ``ENG``), ``GB-SCT``, ``IE``, ``US-NY``... Left out: no public holidays.
    - ``days``: working days, names or ranges, ``mon-fri`` by default (``mon,tue,thu``,
      ``sun-thu`` wrap around the week).
    - ``hours``: the working window of each working day, ``09:00-17:00`` by default (eight hours:
      ``BUSINESS_DAY_MIN`` working minutes make one business day).
    - ``tz``: the IANA time zone the hours are read in; defaults to the country's
      (``GB`` -> ``Europe/London``) and must be named for countries without a default.

    ``business:GB`` is Monday to Friday, 09:00-17:00 Europe/London, England & Wales bank holidays.

Times are integer milliseconds, so adding and measuring working time is exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from .business import SLA_CLOCKS
from .common import PRIORITIES
from .sla_defaults import DEFAULT_TABLE, TABLES

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Time zones of the countries a calendar may name without ``tz=``; elsewhere it must be said.
COUNTRY_ZONES = {"GB": "Europe/London", "IE": "Europe/Dublin", "FR": "Europe/Paris", "DE": "Europe/Berlin",
                 "ES": "Europe/Madrid", "NL": "Europe/Amsterdam", "BE": "Europe/Brussels", "PT": "Europe/Lisbon",
                 "IT": "Europe/Rome"}
DEFAULT_SUBDIVISIONS = {"GB": "ENG"}
# No SLA runs for decades: the walk over days stops here rather than loop on a bad calendar.
MAX_DAYS = 366 * 30


class CalendarError(ValueError):
    """A calendar spec that cannot be read; the message names the part and the expected form."""


class Calendar(Protocol):
    spec: str

    def working_ms(self, start: datetime, end: datetime) -> int:
        """Working milliseconds between two instants (0 when ``end`` is not after ``start``)."""

    def add_working(self, start: datetime, ms: int) -> datetime:
        """The earliest instant by which ``ms`` working milliseconds have passed since ``start``."""


class AlwaysOn:
    """24x7: every millisecond is working time."""

    spec = "24x7"

    def working_ms(self, start: datetime, end: datetime) -> int:
        return max(0, _ms(end - start))

    def add_working(self, start: datetime, ms: int) -> datetime:
        return start + timedelta(milliseconds=ms)


class BusinessHours:
    """Working hours on working days in one time zone, public holidays excepted."""

    def __init__(self, spec: str, days: frozenset[int], opens: time, closes: time, zone: ZoneInfo,
                 days_off: holidays.HolidayBase | None) -> None:
        self.spec = spec
        self.days = days
        self.opens = opens
        self.closes = closes
        self.zone = zone
        self.days_off = days_off
        # Each local day's window is worked out once: an engine run asks about the same days for
        # every ticket.
        self._windows: dict[date, tuple[datetime, datetime] | None] = {}

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.days and (self.days_off is None or day not in self.days_off)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window (UTC) of one local day; None on a day off."""
        if day not in self._windows:
            self._windows[day] = (
                (datetime.combine(day, self.opens, tzinfo=self.zone).astimezone(UTC),
                 datetime.combine(day, self.closes, tzinfo=self.zone).astimezone(UTC))
                if self.is_working_day(day) else None)
        return self._windows[day]

    def windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working windows (UTC) from the local day of ``start`` on, in order."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)  # a window may start the day before in UTC
        for _ in range(MAX_DAYS):
            found = self.window(day)
            if found is not None and found[1] > start:
                yield max(found[0], start), found[1]
            day += timedelta(days=1)
        raise CalendarError(f"{self.spec}: no working time within {MAX_DAYS} days")

    def working_ms(self, start: datetime, end: datetime) -> int:
        total = 0
        if end <= start:
            return 0
        for opens, closes in self.windows(start):
            if opens >= end:
                break
            total += _ms(min(closes, end) - opens)
        return total

    def add_working(self, start: datetime, ms: int) -> datetime:
        if ms <= 0:
            return start
        remaining = ms
        for opens, closes in self.windows(start):
            span = _ms(closes - opens)
            if remaining <= span:
                return opens + timedelta(milliseconds=remaining)
            remaining -= span
        raise CalendarError(f"{self.spec}: no working time")  # pragma: no cover - windows() raises first


def _ms(delta: timedelta) -> int:
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def _days(text: str) -> frozenset[int]:
    found: set[int] = set()
    for part in text.lower().split(","):
        ends = part.strip().split("-")
        if not all(end in DAY_NAMES for end in ends) or len(ends) > 2:
            raise CalendarError(f"days={text}: use day names ({', '.join(DAY_NAMES)}) or ranges like mon-fri")
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        found.update((first + step) % 7 for step in range((last - first) % 7 + 1))
    return frozenset(found)


def _hours(text: str) -> tuple[time, time]:
    try:
        opens, closes = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise CalendarError(f"hours={text}: use HH:MM-HH:MM, e.g. 09:00-17:00") from None
    if closes <= opens:
        raise CalendarError(f"hours={text}: the day must close after it opens (overnight hours are not supported)")
    return opens, closes


def _holidays(region: str) -> tuple[str, holidays.HolidayBase]:
    country, _, subdivision = region.upper().partition("-")
    subdivision = subdivision or DEFAULT_SUBDIVISIONS.get(country, "")
    try:
        found = holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        raise CalendarError(f"{region}: the holidays package knows no country {country!r}") from None
    return country, found


@lru_cache(maxsize=256)
def parse(spec: str) -> Calendar:
    """The calendar a spec names (see the module docstring); raises :class:`CalendarError`."""
    text = spec.strip()
    if text.lower() in ("24x7", "24/7"):
        return AlwaysOn()
    head, *options = [part.strip() for part in text.split(";")]
    kind, _, region = head.partition(":")
    if kind.lower() != "business":
        raise CalendarError(f"{spec!r}: a calendar is '24x7' or 'business[:CC[-SUB]][;days=..][;hours=..][;tz=..]'")
    settings: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or name.strip().lower() not in ("days", "hours", "tz"):
            raise CalendarError(f"{option!r}: options are days=, hours= and tz=")
        settings[name.strip().lower()] = value.strip()
    country, days_off = _holidays(region.strip()) if region.strip() else ("", None)
    zone_name = settings.get("tz") or COUNTRY_ZONES.get(country) or ("UTC" if not country else "")
    if not zone_name:
        raise CalendarError(f"{spec!r}: name the time zone of {country}'s working hours with ;tz=Area/City")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"tz={zone_name}: not an IANA time zone (e.g. Europe/London)") from None
    days = _days(settings.get("days", "mon-fri"))
    opens, closes = _hours(settings.get("hours", "09:00-17:00"))
    return BusinessHours(text, days, opens, closes, zone, days_off)


DEFAULT_CALENDAR = "24x7"
DEFAULT_NEAR_BREACH_SHARE = 0.75
DEFAULT_OVERDUE_MULTIPLE = 1.5
TARGET_KEYS = {"response": "response_min", "onsite": "onsite_min", "resolution": "resolution_min"}


@dataclass(frozen=True)
class Policy:
    """The SLA terms of one contract (or of tickets without one)."""

    source: str  # "sla_policy:<id>", or "table:<name>" for the seed defaults
    targets: Mapping[str, Mapping[str, int | None]]  # priority -> clock -> minutes (None: no such clock)
    calendar: Calendar
    near_breach_share: float = DEFAULT_NEAR_BREACH_SHARE
    overdue_multiple: float = DEFAULT_OVERDUE_MULTIPLE
    problems: tuple[str, ...] = field(default=())
    # "ticket_resolved" (service management flow, the default) or "job_completed" (field service flow).
    resolution_stops_at: str = "ticket_resolved"

    def target_min(self, priority: str, clock: str) -> int | None:
        return self.targets.get(priority, self.targets["Medium"]).get(clock)


def _table(name: str) -> dict[str, dict[str, int | None]]:
    # The seed tables differ in shape (one has no on-site minutes) and are typed as plain objects.
    table = cast(Mapping[str, Mapping[str, int | None]], TABLES.get(name, TABLES[DEFAULT_TABLE]))
    return {priority: {clock: row[key] for clock, key in TARGET_KEYS.items()} for priority, row in table.items()}


def _number(value: Any, low: float, high: float) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
        return float(value)
    return None


def _minutes(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _apply_targets(targets: dict[str, dict[str, int | None]], given: Any, *, whole: bool) -> None:
    """Fold targets given per priority into ``targets``. A policy's row (``whole``) replaces the
    seed table's — an on-site target it leaves out is no on-site commitment; a contract's
    overrides change only the minutes they name."""
    if not isinstance(given, Mapping):
        return
    for priority in PRIORITIES:
        row = given.get(priority)
        if not isinstance(row, Mapping):
            continue
        if whole and "onsite_min" not in row:
            targets[priority]["onsite"] = None
        for clock, key in TARGET_KEYS.items():
            if _minutes(row.get(key)):
                targets[priority][clock] = row[key]
            elif key in row and row[key] is None and clock == "onsite":
                targets[priority][clock] = None  # "no on-site commitment at this priority"


def build(policy: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None, policy_id: str | None) -> Policy:
    """The terms from a policy record and a contract's overrides (either may be None)."""
    overrides = overrides if isinstance(overrides, Mapping) else {}
    named = overrides.get("table")
    table = named if isinstance(named, str) and named in TABLES else DEFAULT_TABLE
    targets = _table(table)
    source = f"table:{table}"
    calendar_spec, share, multiple = DEFAULT_CALENDAR, DEFAULT_NEAR_BREACH_SHARE, DEFAULT_OVERDUE_MULTIPLE
    stops_at = "ticket_resolved"
    # A policy holds its targets under "targets"; a contract's overrides name priorities directly.
    for terms, given, whole in ((policy or {}, (policy or {}).get("targets"), True), (overrides, overrides, False)):
        _apply_targets(targets, given, whole=whole)
        if isinstance(terms.get("calendar"), str):
            calendar_spec = terms["calendar"]
        share = _number(terms.get("near_breach_share"), 0.1, 0.99) or share
        multiple = _number(terms.get("overdue_multiple"), 1.01, 10) or multiple
        if terms.get("resolution_stops_at") in ("ticket_resolved", "job_completed"):
            stops_at = terms["resolution_stops_at"]
    if policy is not None:
        source = f"sla_policy:{policy_id}"
    problems: list[str] = []
    try:
        calendar = parse(calendar_spec)
    except CalendarError as exc:
        calendar = AlwaysOn()
        problems.append(f"calendar {calendar_spec!r} ignored (24x7 used): {exc}")
    return Policy(source, targets, calendar, share, multiple, tuple(problems), stops_at)


def clocks_of(policy: Policy, priority: str) -> dict[str, int]:
    """The clocks this priority has under the policy, with their targets in minutes."""
    found = {}
    for clock in SLA_CLOCKS:
        target = policy.target_min(priority, clock)
        if target:
            found[clock] = target
    return found
