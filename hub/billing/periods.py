"""Billing periods: calendar months or quarters in UTC, named by their first day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

MONTHS_IN = {"monthly": 1, "quarterly": 3}


def parse_instant(value: str | None) -> datetime | None:
    """A stored ISO 8601 instant as an aware UTC datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo else found.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def period_start(instant: datetime, period: str) -> datetime:
    """The first instant of the period (month or quarter) holding ``instant``."""
    step = MONTHS_IN[period]
    month = (instant.month - 1) // step * step + 1
    return datetime(instant.year, month, 1, tzinfo=UTC)


def period_end(start: datetime, period: str) -> datetime:
    return _add_months(start, MONTHS_IN[period])


def periods(first: datetime, last: datetime, period: str) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of every period from the one holding ``first`` to the one holding ``last``."""
    start = period_start(first, period)
    while start <= last:
        end = period_end(start, period)
        yield start, end
        start = end


def label(start: datetime, period: str) -> str:
    """``November 2026`` or ``Q4 2026``."""
    if period == "quarterly":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return start.strftime("%B %Y")


# A contract in these states bills its periods as they end; a draft or cancelled one does not
# (the office can still draft a period of it by hand).
BILLING_STATES = frozenset({"active", "expired"})


def contract_periods(contract: dict, period: str, now: datetime) -> list[tuple[datetime, datetime, bool]]:
    """(start, end, due) of each period the contract runs in, up to the one holding ``now``.

    A period is billed whole if the contract runs at any moment of it (no pro rata), in arrears:
    it is due once it has ended and the contract is active (or has since expired)."""
    starts = parse_instant(contract.get("starts_at"))
    if starts is None:
        return []
    ends = parse_instant(contract.get("ends_at"))
    last = min(now, ends - timedelta(microseconds=1)) if ends else now
    billing = contract.get("status") in BILLING_STATES
    return [(start, end, billing and end <= now) for start, end in periods(starts, last, period)]


def period_key(contract_id: str, start: datetime) -> str:
    return f"{contract_id}:{start.date().isoformat()}"
