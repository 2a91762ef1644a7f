"""The SLA report (service management flow, "SLA reporting"), over the tickets opened in a span.

- **compliance**: the share of resolved tickets whose resolution clock was met (tickets resolved
  within SLA), and the same per clock;
- **first response**: mean working minutes to first response, per priority (the priority whose
  targets applied), over tickets whose response clock has stopped;
- **breaches** (root causes: agent, time of day, complexity): every clock missed, breached or
  overdue, counted by agent (the technician or assignee it escalates to; ``unassigned``), by the
  hour of day the ticket was opened (in ``tz``), by ticket category, and by clock.

Figures come from the same computation as the engine's (:mod:`.sla_status`), as of now.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import fields, validate

from schema.business import SLA_CLOCKS
from schema.common import PRIORITIES

from ..device_time import iso, parse_instant
from ..errors import ApiError
from ..store import HubStore
from .sla_clocks import opened_at
from .sla_escalation import assignee
from .sla_status import Context, evaluate, tickets

QUERY_FIELDS = {"from": fields.String(validate=validate.Length(1, 40)),
                "to": fields.String(validate=validate.Length(1, 40)),
                "tz": fields.String(validate=validate.Length(1, 64))}
DEFAULT_DAYS = 30
BREACHED = ("missed", "breached", "overdue")


@dataclass(frozen=True)
class Span:
    start: datetime | None
    end: datetime | None
    zone: tzinfo
    zone_name: str


def _bound(name: str, text: str | None, zone: tzinfo) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=zone)  # a date: its midnight in tz
    except ValueError:
        pass
    found = parse_instant(text)
    if found is None:
        raise ApiError(400, "bad query parameters", [(name, "an ISO date (2026-11-01) or instant (2026-11-01T09:00Z)")])
    return found


class ReportQuery:
    """Reads ``from``, ``to`` and ``tz``; 400 naming the parameter when one is wrong."""

    def load(self, values: dict[str, Any]) -> Span:
        zone_name = values.get("tz", "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ApiError(400, "bad query parameters", [("tz", "an IANA time zone, e.g. Europe/London")]) from None
        start, end = _bound("from", values.get("from"), zone), _bound("to", values.get("to"), zone)
        if start is not None and end is not None and end <= start:
            raise ApiError(400, "bad query parameters", [("to", "must be after from")])
        return Span(start, end, zone, zone_name)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _rate(met: int, missed: int) -> float | None:
    return round(100 * met / (met + missed), 1) if met + missed else None


def build(store: HubStore, span: Span, now: datetime) -> dict[str, Any]:
    """The report over tickets opened in [from, to) (default: the 30 days up to ``now``)."""
    end = span.end or now
    start = span.start or end - timedelta(days=DEFAULT_DAYS)
    context = Context(store)
    states: dict[str, Counter[str]] = {clock: Counter() for clock in SLA_CLOCKS}
    responses: dict[str, list[float]] = defaultdict(list)
    by_agent: Counter[str] = Counter()
    by_hour: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_clock: Counter[str] = Counter()
    count = 0
    for ticket in tickets(store):
        opened = opened_at(store, ticket)
        if not start <= opened < end or ticket.get("status") == "cancelled":
            continue
        status = evaluate(store, ticket, now, context)
        count += 1
        for clock, result in status.clocks.items():
            states[clock][result.state] += 1
            if clock == "response" and result.state in ("met", "missed"):
                responses[status.priority].append(result.live_elapsed_ms / 60_000)
            if result.state in BREACHED:
                by_agent[assignee(ticket, status.facts.jobs, clock) or "unassigned"] += 1
                by_hour[f"{opened.astimezone(span.zone).hour:02d}"] += 1
                by_category[ticket.get("category") or "other"] += 1
                by_clock[clock] += 1
    resolution = states["resolution"]
    return {
        "from": iso(start), "to": iso(end), "tz": span.zone_name, "tickets": count,
        "compliance": {"resolved": resolution["met"] + resolution["missed"], "within_sla": resolution["met"],
                       "rate_pct": _rate(resolution["met"], resolution["missed"])},
        "clocks": {clock: {"states": dict(sorted(found.items())),
                           "compliance_pct": _rate(found["met"], found["missed"])} for clock, found in states.items()},
        "first_response_min": {priority: {"tickets": len(responses[priority]), "mean": _mean(responses[priority])}
                               for priority in PRIORITIES if responses[priority]},
        "breaches": {"total": sum(by_clock.values()), "by_agent": dict(sorted(by_agent.items())),
                     "by_hour": dict(sorted(by_hour.items())), "by_category": dict(sorted(by_category.items())),
                     "by_clock": dict(sorted(by_clock.items()))},
    }
