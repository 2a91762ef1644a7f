"""The inventory engine: the stock ledger at the hub, reservations, goods issues, stock exceptions
and purchase requests.

Stock lives at locations (warehouses and vans) per SKU in ``stock`` rows (``on_hand`` and
``reserved`` counters); every change of ``on_hand`` is a ``stock_move`` in the ledger. A van's
stock is spent by its own devices (escrow): a part used from the technician's own van is already
moved by the tablet. What the hub adds, on every run:

1. the ledger's hub side — the names of the stock rows devices created, goods issues of part use
   from another location once the job is closed, their reversal when the use is voided, kits
   leaving their warehouse (``inventory_moves``);
2. reservations: ``reserved`` equals the parts estimates of the open work orders held at each
   location (``inventory_reserve``);
3. settling movements where devices booked one physical event twice — a kit received after it
   was cancelled or by two terminals, parts handed out and then used, a count that missed a use
   made before it (``inventory_settle``);
4. stock exceptions and purchase requests from a replay of each location's ledger, and one
   exception per part taken from another location (``inventory_shortfall``).

The run is a pure function of the merged state: the ids of what it writes derive from their
causes, so a second run writes nothing, and the same ops in any order give the same stock, the
same ledger and the same live exceptions. Office routes are in ``inventory_api`` (``bp``), the
reconciliation report in ``inventory_report``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from ..store import HubStore
from . import inventory_state
from .inventory_api import bp
from .inventory_moves import Writer, goods_issues, kit_moves, name_rows
from .inventory_reserve import reservations
from .inventory_settle import settle
from .inventory_shortfall import exception_changes
from .planning import by_entity, write_planned

__all__ = ["ENGINE", "bp"]


Step = Callable[[inventory_state.Snapshot, Writer], None]


def _plan(*steps: Step) -> Callable[[HubStore], list[list[tuple[Any, ...]]]]:
    """The steps' changes on one snapshot of the merged state, written as one unit: a movement
    goes with its counter delta."""

    def plan(view: HubStore) -> list[list[tuple[Any, ...]]]:
        snap = inventory_state.read(view)
        writer = Writer(lambda row_id: snap.stock.get(row_id, {}))
        for step in steps:
            step(snap, writer)
        return [writer.changes]

    return plan


class InventoryEngine:
    name = "inventory"

    def run(self, store: HubStore, now_ms: int) -> int:
        """Bring the ledger, reservations, exceptions and purchase requests in line with the
        merged state; returns the number of ops written (zero when nothing was due)."""
        now_iso = datetime.fromtimestamp(now_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
        written = write_planned(store, _plan(name_rows, goods_issues, partial(kit_moves, now_iso=now_iso),
                                             reservations))
        # Settling replays the ledger (a count stands where it was taken), and the exceptions
        # replay it settled: each is planned after the movements it reads are written.
        written += write_planned(store, _plan(settle))
        return written + write_planned(store, lambda view: by_entity(exception_changes(inventory_state.read(view))))


ENGINE = InventoryEngine()
