"""Reservations: a work order's parts estimate holds stock until its job is done.

The ``reserved`` counter of a stock row is written by this engine alone, and kept equal to the sum
of the estimates held at that location — so the record of what is reserved is the estimates
themselves, read from the merged state: a second run finds nothing to change, an estimate edited
or a job moved to another van moves the reservation with it, and the same ops give the same
reservations in any order. :func:`holds` lists them per work order for the office.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from .inventory_moves import Writer
from .inventory_state import Snapshot, qty

CLOSED_ORDER = frozenset({"completed", "cancelled"})


@dataclass(frozen=True)
class Hold:
    """One SKU of one work order's parts estimate: held at a location, released, or unplaced
    (no van and no default warehouse to hold it at)."""

    work_order_id: str
    job_id: str | None
    location_id: str | None
    sku: str
    qty: Decimal
    state: str
    why: str

    def to_json(self) -> dict[str, str | None]:
        return {"work_order_id": self.work_order_id, "job_id": self.job_id, "location_id": self.location_id,
                "sku": self.sku, "qty": str(self.qty), "state": self.state, "why": self.why}


def _estimate(order: dict) -> list[tuple[str, Decimal]]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in order.get("parts_estimate") or []:
        totals[line["sku"]] += qty(line["qty"])
    return sorted(totals.items())


def _placement(snap: Snapshot, order_id: str, order: dict,
               jobs: list[tuple[str, dict]]) -> tuple[str | None, str | None, str, str]:
    """(location, job, state, why) of a work order's reservation."""
    if order.get("status") in CLOSED_ORDER:
        return None, None, "released", f"work order {order['status']}"
    done = [job_id for job_id, job in jobs if job.get("status") == "completed"]
    if done:
        return None, done[0], "released", f"job {done[0]} completed"
    # The latest trip still open decides where the parts are wanted (ids are time-ordered).
    for job_id, job in sorted(jobs, reverse=True):
        if job.get("status") == "cancelled":
            continue
        van = job.get("van_id") or snap.van_of(job.get("technician_id"))
        if van:
            return van, job_id, "held", f"at the van of job {job_id}"
    warehouse = snap.warehouse()
    if warehouse:
        return warehouse, None, "held", "at the default warehouse until a van takes the job"
    return None, None, "unplaced", "no van on its job and no default warehouse"


def holds(snap: Snapshot) -> list[Hold]:
    """Every work order's estimate line with where it is held, in work order and SKU order."""
    jobs_of: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for job_id, job in snap.jobs.items():
        if job.get("work_order_id"):
            jobs_of[job["work_order_id"]].append((job_id, job))
    found: list[Hold] = []
    for order_id, order in sorted(snap.work_orders.items()):
        lines = _estimate(order)
        if not lines:
            continue
        location, trip, state, why = _placement(snap, order_id, order, jobs_of[order_id])
        found.extend(Hold(order_id, trip, location, sku, amount, state, why) for sku, amount in lines)
    return found


def reservations(snap: Snapshot, writer: Writer) -> None:
    """Bring every ``reserved`` counter to the sum of the estimates held there."""
    wanted: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for hold in holds(snap):
        if hold.state == "held" and hold.location_id:
            wanted[hold.location_id, hold.sku] += hold.qty
    # Rows are named <location>:<sku>; SKUs hold no ':' (the catalogue's rule), locations may.
    held = {(location, sku) for row_id, row in snap.stock.items() if qty(row.get("reserved"))
            for location, _, sku in [row_id.rpartition(":")] if location}
    for location, sku in sorted(set(wanted) | held):
        delta = wanted.get((location, sku), Decimal(0)) - snap.stock_level(location, sku, "reserved")
        if delta:
            writer.reserve(location, sku, delta)
