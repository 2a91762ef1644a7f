"""Which SLA applies to a ticket: its contract's policy, the contract's overrides, the seed tables.

Resolution order, later wins:

1. the seed table ``schema.sla_defaults.DEFAULT_TABLE`` (or the table a contract's overrides name);
2. the contract's ``sla_policy`` (its targets per priority, calendar, near-breach share, overdue
   multiple) — a priority the policy leaves out keeps the seed table's targets;
3. the contract's ``sla_overrides``: only the minutes and settings named.

A calendar that cannot be read falls back to 24x7 and says so (``problems``): an SLA is never
silently dropped because of a typing mistake in a policy.

The priority whose targets apply is the ticket's priority *before* any raise the engine made on a
breach: raising the priority calls for attention, it does not move the goalposts of clocks already
running (and a response met at High is not missed later because a breach made the ticket Critical).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from schema.business import SLA_CLOCKS
from schema.common import PRIORITIES
from schema.sla_defaults import DEFAULT_TABLE, TABLES

from .. import office_records
from ..store import HubStore
from .sla_calendar import AlwaysOn, Calendar, CalendarError, parse

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
    table = TABLES.get(name, TABLES[DEFAULT_TABLE])
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
    table = overrides.get("table") if overrides.get("table") in TABLES else DEFAULT_TABLE
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


def for_contract(store: HubStore, contract_id: str | None) -> Policy:
    """The terms a ticket on ``contract_id`` (None: no contract) is held to."""
    contract = office_records.view(store, "contract", contract_id) if contract_id else None
    if contract is None:
        return build(None, None, None)
    policy_id = contract.get("sla_policy_id")
    policy = office_records.view(store, "sla_policy", policy_id) if policy_id else None
    return build(policy, contract.get("sla_overrides"), policy_id)


def raised(priority: str) -> str:
    """One level up (Low -> Medium -> High -> Critical); Critical stays Critical."""
    index = PRIORITIES.index(priority) if priority in PRIORITIES else PRIORITIES.index("Medium")
    return PRIORITIES[min(index + 1, len(PRIORITIES) - 1)]


def base_priority(current: str, raises: Iterable[tuple[str | None, str | None]]) -> str:
    """The priority before the engine's raises: follow each raise that led to the current value
    back to where it came from. A priority people set to a value the engine never raised to is
    theirs, and its targets apply."""
    back = {to: source for source, to in raises if source and to and source != to}
    seen = {current}
    priority = current
    while priority in back and back[priority] not in seen:
        priority = back[priority]
        seen.add(priority)
    return priority if priority in PRIORITIES else "Medium"


def clocks_of(policy: Policy, priority: str) -> dict[str, int]:
    """The clocks this priority has under the policy, with their targets in minutes."""
    found = {}
    for clock in SLA_CLOCKS:
        target = policy.target_min(priority, clock)
        if target:
            found[clock] = target
    return found
