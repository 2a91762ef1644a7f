"""Which SLA applies to a ticket: its contract's policy, the contract's overrides, the seed tables.

The rule itself (resolution order, later wins: seed table, the contract's ``sla_policy``, the
contract's ``sla_overrides``) is :func:`schema.sla_terms.build`, pure and shared with the tablet's
job card; this module reads a contract and its policy from the hub's store and hands them to it.

The priority whose targets apply is the ticket's priority *before* any raise the engine made on a
breach: raising the priority calls for attention, it does not move the goalposts of clocks already
running (and a response met at High is not missed later because a breach made the ticket Critical).
"""

from __future__ import annotations

from collections.abc import Iterable

from schema.common import PRIORITIES
from schema.sla_terms import (
    DEFAULT_CALENDAR,
    DEFAULT_NEAR_BREACH_SHARE,
    DEFAULT_OVERDUE_MULTIPLE,
    TARGET_KEYS,
    Policy,
    build,
    clocks_of,
)

from .. import office_records
from ..store import HubStore

__all__ = ["DEFAULT_CALENDAR", "DEFAULT_NEAR_BREACH_SHARE", "DEFAULT_OVERDUE_MULTIPLE", "TARGET_KEYS", "Policy",
           "base_priority", "build", "clocks_of", "for_contract", "raised"]


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

