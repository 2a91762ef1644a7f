"""Stock exceptions and purchase requests: part use beyond what a location held, and parts taken
from another location.

Nothing is ever blocked — the part use is already recorded — so the hub replays each location's
ledger to see where it ran short. The replay is a pure function of the set of ops: movements in
the total order of their ops (HLC, node, counter), never in order of arrival; a goods issue the
hub wrote for a part use sits where that part use sits. A *shortfall episode* starts at the
movement that takes the balance below zero and ends at the one that brings it back to zero or
more; its shortfall is the deepest the balance went. Each episode gets one ``stock_exception``
(reason ``negative_stock``) and one ``purchase_request`` for the shortfall.

Ops that arrive late can change history: a kit received at 09:00 but synced at 17:00 may show
that the van never ran short at 10:00. The engine then voids the exception it raised and marks
the purchase request ``withdrawn`` (an lww flag, so a later op can raise it again), and an
episode whose shortfall deepens gets a new exception in place of the old one. Whatever order the
ops arrive in, the live exceptions and the requests not withdrawn end up the same; the voided
and withdrawn ones are the trail of what the hub believed before the late work arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sync.ops import APPEND, SET, VOID, OpId

from .inventory_moves import hub_moves_it
from .inventory_settle import Entry, ledger, openings
from .inventory_settle import wanted as wanted_fixes
from .inventory_state import Record, Snapshot, derived_id, qty, qty_text

Key = tuple[str, str]  # (location, sku)


@dataclass(frozen=True)
class Episode:
    location_id: str
    sku: str
    start: Entry
    shortfall: Decimal  # the deepest the balance went below zero
    ongoing: bool  # still below zero after the last movement

    def exception(self) -> dict[str, Any]:
        start = self.start
        return {"location_id": self.location_id, "sku": self.sku, "qty": qty_text(self.shortfall),
                "reason": "negative_stock", "job_id": start.job_id, "part_usage_id": start.part_usage_id,
                "at": start.device_time}

    @property
    def exception_id(self) -> str:
        # Every field in the id: what the record says can change as late ops arrive (a deeper
        # shortfall, the part_usage behind the movement), and an append-only record cannot —
        # a changed exception is a new record, and the old one is voided.
        record = self.exception()
        return derived_id("sx", *(str(record[name] or "") for name in sorted(record)))

    @property
    def request_id(self) -> str:
        return derived_id("pr", self.location_id, self.sku, self.start.move_id)


def episodes(snap: Snapshot) -> list[Episode]:
    """Every shortfall episode of every location and SKU, in (location, SKU, time) order."""
    found = []
    starts = openings(snap)
    for (location, sku), entries in sorted(ledger(snap, wanted_fixes(snap)).items()):
        balance = starts.get((location, sku), Decimal(0))
        start: Entry | None = None
        deepest = Decimal(0)
        for entry in entries:
            balance += entry.qty
            if start is None:
                if entry.qty < 0 and balance < 0:
                    start, deepest = entry, -balance
            else:
                deepest = max(deepest, -balance)
                if balance >= 0:
                    found.append(Episode(location, sku, start, deepest, False))
                    start = None
        if start is not None:
            found.append(Episode(location, sku, start, deepest, True))
    return found


def wanted(snap: Snapshot) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(exceptions, purchase requests) the state calls for, by id."""
    exceptions: dict[str, dict[str, Any]] = {}
    requests: dict[str, dict[str, Any]] = {}
    for usage_id, usage in sorted(snap.part_usages.items()):
        if not usage.voided and hub_moves_it(snap, usage):
            exceptions[derived_id("sx", "other_location", usage_id)] = {
                "location_id": usage["location_id"], "sku": usage["sku"], "qty": qty_text(qty(usage["qty"])),
                "reason": "other_location", "job_id": usage["job_id"], "part_usage_id": usage_id,
                "at": usage["device_time"]}
    for episode in episodes(snap):
        start = episode.start
        exceptions[episode.exception_id] = episode.exception()
        on_job = f" on job {start.job_id}" if start.job_id else ""
        requests[episode.request_id] = {
            "sku": episode.sku, "qty": qty_text(episode.shortfall), "location_id": episode.location_id,
            "stock_exception_id": episode.exception_id, "withdrawn": False,
            "note": f"{episode.location_id} ran {qty_text(episode.shortfall)} {episode.sku} short from "
                    f"{start.device_time}{on_job}"}
    return exceptions, requests


def exception_changes(snap: Snapshot) -> list[tuple[Any, ...]]:
    """The ops that bring the hub's exceptions and requests in line with :func:`wanted`."""
    exceptions, requests = wanted(snap)
    changes: list[tuple[Any, ...]] = []
    for eid, record in sorted(exceptions.items()):
        have = snap.exceptions.get(eid)
        if have is None:
            changes.append(("stock_exception", eid, APPEND, "", record))
        elif have.voided:
            changes.extend(("stock_exception", eid, VOID, "", "raised again: the ledger shows it after all", [void])
                           for void in snap.exception_voids.get(eid, []))
    for eid, have in sorted(snap.exceptions.items()):
        if eid not in exceptions and not have.voided and have.node == snap.node:
            changes.append(("stock_exception", eid, VOID, "", _withdrawn_reason(have),
                            [OpId(have.node, have.counter)]))
    for rid, fields in sorted(requests.items()):
        current = snap.requests.get(rid, {})
        changes.extend(("purchase_request", rid, SET, name, value) for name, value in fields.items()
                       if current.get(name) != value)
    for rid, current in sorted(snap.requests.items()):
        if rid not in requests and rid.startswith("pr-") and not current.get("withdrawn"):
            changes.append(("purchase_request", rid, SET, "withdrawn", True))
    return changes


def _withdrawn_reason(have: Record) -> str:
    if have["reason"] == "other_location":
        return "withdrawn: the part use was voided or its own van moved it"
    return (f"withdrawn: with the movements that arrived later {have['location_id']} was not "
            f"{have['qty']} {have['sku']} short from here")
