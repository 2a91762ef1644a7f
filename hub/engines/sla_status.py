"""A ticket's SLA status: its facts, its policy and each of its clocks, computed at one instant.

Shared by the engine (which writes the picture to ``ticket.sla`` and escalates) and the office
routes (which show it live and report on it), so an SLA rule is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import office_records
from ..device_time import DeviceOffsets
from ..store import HubStore
from .sla_clocks import TicketFacts, gather
from .sla_escalation import raises_of, recorded
from .sla_picture import ClockResult, compute
from .sla_policy import Policy, base_priority, clocks_of, for_contract

CLOSED = ("resolved", "closed", "cancelled")


class Context:
    """What every ticket of one run shares, read once: policies per contract, device offsets,
    the names of portal users (whose comments are the customer's, not a response)."""

    def __init__(self, store: HubStore) -> None:
        self.store = store
        self.offsets = DeviceOffsets(store)
        self.portal_users = frozenset(name for (name,) in store.conn.execute(
            "SELECT name FROM users WHERE customer_id IS NOT NULL"))
        self._policies: dict[str | None, Policy] = {}

    def policy(self, contract_id: str | None) -> Policy:
        if contract_id not in self._policies:
            self._policies[contract_id] = for_contract(self.store, contract_id)
        return self._policies[contract_id]


@dataclass(frozen=True)
class TicketSla:
    ticket: dict[str, Any]
    facts: TicketFacts
    policy: Policy
    priority: str  # the priority whose targets apply (before the engine's raises)
    clocks: dict[str, ClockResult]
    escalations: dict[str, dict[str, Any]]  # the ticket's escalation records by id

    def _header(self) -> dict[str, Any]:
        header: dict[str, Any] = {"priority": self.priority, "policy": self.policy.source,
                                  "calendar": self.policy.calendar.spec}
        if self.policy.problems:
            header["problems"] = list(self.policy.problems)
        return header

    def picture(self) -> dict[str, Any]:
        """What the engine writes to ``ticket.sla``: one dict per clock, plus the terms applied."""
        return {**self._header(), **{name: result.picture() for name, result in self.clocks.items()}}

    def live(self, now: datetime) -> dict[str, Any]:
        """The same with elapsed time as of ``now``."""
        return {**self._header(), **{name: result.live(now) for name, result in self.clocks.items()}}

    @property
    def open(self) -> bool:
        return self.ticket.get("status") not in CLOSED


def instant(now_ms: int) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC)


def evaluate(store: HubStore, ticket: dict[str, Any], now: datetime, context: Context) -> TicketSla:
    """The SLA status of one ticket (its merged view) at ``now``."""
    policy = context.policy(ticket.get("contract_id") if isinstance(ticket.get("contract_id"), str) else None)
    facts = gather(store, ticket, context.offsets, context.portal_users, policy.resolution_stops_at)
    escalations = recorded(store, ticket["id"])
    priority = base_priority(ticket.get("priority") or "Medium", raises_of(escalations))
    clocks = {
        clock: compute(clock, policy.calendar, target, policy.near_breach_share, policy.overdue_multiple,
                       facts.opened_at, facts.stops.get(clock), facts.pauses, facts.cancelled_at, now)
        for clock, target in clocks_of(policy, priority).items()
    }
    return TicketSla(ticket, facts, policy, priority, clocks, escalations)


def tickets(store: HubStore) -> list[dict[str, Any]]:
    """Every ticket's merged view, in id order."""
    found = []
    for eid in store.replica.entity_ids("ticket"):
        view = office_records.view(store, "ticket", eid)
        if view is not None:
            found.append(view)
    return found
