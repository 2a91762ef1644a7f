"""The movements the hub writes into the stock ledger: receipts, parts kits leaving a warehouse,
goods issues of part use from another location, and their reversals.

Every movement is written the way a van's device writes its own: a ``stock_move`` record and the
``on_hand`` delta beside it, in the same transaction, so the counter keeps equalling the ledger.
Movements the engine derives from something else (a part use, a kit line) carry an id derived
from that cause (:func:`~.inventory_state.derived_id`): a second run finds them and writes
nothing, and the ledger is the same whatever order the ops arrived in.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sync.kinds.counter import to_json_number
from sync.ops import APPEND, INCR, SET, VOID, OpId

from .inventory_state import Record, Snapshot, derived_id, qty, qty_text, stock_id

# A job in one of these states has confirmed its part use: the goods are issued.
CLOSED_JOB = frozenset({"completed", "cancelled"})
# A kit in one of these states has left its warehouse.
KIT_GONE = frozenset({"dispatched", "received"})


class Writer:
    """Collects the changes of one transaction; names each stock row (location, SKU) the first
    time it is touched, as the devices do, so scope and links find the row."""

    def __init__(self, known: Callable[[str], dict[str, Any]]) -> None:
        self.known = known
        self.changes: list[tuple[Any, ...]] = []
        self._named: set[str] = set()

    def name_row(self, location_id: str, sku: str) -> None:
        row_id = stock_id(location_id, sku)
        if row_id in self._named:
            return
        self._named.add(row_id)
        row = self.known(row_id)
        # Only when absent: the hub is the one writer of a row's names (devices leave them to it),
        # so they are written once and never meet another write as a conflict.
        if not row.get("location_id"):
            self.changes.append(("stock", row_id, SET, "location_id", location_id))
        if not row.get("sku"):
            self.changes.append(("stock", row_id, SET, "sku", sku))

    def move(self, move_id: str, location_id: str, sku: str, delta: Decimal, reason: str, *, device_time: str,
             job_id: str | None = None, kit_id: str | None = None, note: str = "") -> dict[str, Any]:
        """One ledger movement and its on_hand delta; returns the record written."""
        record = {"location_id": location_id, "sku": sku, "qty": qty_text(delta), "reason": reason,
                  "job_id": job_id, "kit_id": kit_id, "note": note[:500], "device_time": device_time}
        self.changes.append(("stock_move", move_id, APPEND, "", record))
        self.name_row(location_id, sku)
        if delta:
            self.changes.append(("stock", stock_id(location_id, sku), INCR, "on_hand", to_json_number(delta)))
        return record

    def withdraw(self, move: Record, why: str) -> None:
        """Void one of the hub's own movements and take its on_hand delta back."""
        self.changes.append(("stock_move", move.id, VOID, "", why, [OpId(move.node, move.counter)]))
        self._undo(move, -1)

    def revive(self, move: Record, voids: list[OpId]) -> None:
        """Void the voids of one of the hub's movements, so it counts again, and put its delta back."""
        self.changes.extend(("stock_move", move.id, VOID, "", "called for again by the movements merged since",
                             [void]) for void in voids)
        self._undo(move, 1)

    def _undo(self, move: Record, sign: int) -> None:
        delta = qty(move["qty"]) * sign
        if delta:
            self.changes.append(("stock", stock_id(move["location_id"], move["sku"]), INCR, "on_hand",
                                 to_json_number(delta)))

    def reserve(self, location_id: str, sku: str, delta: Decimal) -> None:
        self.name_row(location_id, sku)
        self.changes.append(("stock", stock_id(location_id, sku), INCR, "reserved", to_json_number(delta)))


def name_rows(snap: Snapshot, writer: Writer) -> None:
    """Name every stock row a device created (``<location>:<sku>``; SKUs hold no ':'), so the hub
    links it to its van and the van's other devices receive it; and close a conflict of two equal
    names older agents wrote, by writing the name again having seen both."""
    for row_id, row in sorted(snap.stock.items()):
        location, _, sku = row_id.rpartition(":")
        if location and sku and not (row.get("location_id") and row.get("sku")):
            writer.name_row(location, sku)
    writer.changes.extend(("stock", row_id, SET, name, value) for row_id, name, value in snap.twin_names)


def issue_id(part_usage_id: str) -> str:
    return derived_id("gi", part_usage_id)


def reversal_id(part_usage_id: str) -> str:
    return derived_id("gr", part_usage_id)


def kit_out_id(kit_id: str, sku: str) -> str:
    return derived_id("ko", kit_id, sku)


def kit_return_id(kit_id: str, sku: str) -> str:
    return derived_id("kr", kit_id, sku)


def moved_by_device(snap: Snapshot, usage: Record) -> bool:
    """The technician's device moved this part's stock itself: it wrote a stock_move under the
    part_usage's own id (a part from its own van). Such a use must not be deducted again."""
    return usage.id in snap.moves and snap.moves[usage.id].node == usage.node


def hub_moves_it(snap: Snapshot, usage: Record) -> bool:
    """A part used from another location (a warehouse, another van): the hub moves that stock.
    A use from the technician's own van whose stock_move has not arrived yet (a batch cut) is
    not one: the device's move is on its way."""
    return not moved_by_device(snap, usage) and usage["location_id"] != snap.van_of(usage["technician_id"])


def goods_issues(snap: Snapshot, writer: Writer) -> None:
    """Goods issue of part use from another location once its job is closed, one per part_usage;
    reversed by a 'return' when the use is voided or its device turns out to have moved it.

    A voided use is issued too (and returned at once): the ledger then holds the same movements
    whether the void arrived before or after the job closed.
    """
    for usage_id, usage in sorted(snap.part_usages.items()):
        amount = qty(usage["qty"])
        location, sku, job_id = usage["location_id"], usage["sku"], usage["job_id"]
        issued = issue_id(usage_id) in snap.moves
        closed = snap.jobs.get(job_id, {}).get("status") in CLOSED_JOB
        if not issued and closed and hub_moves_it(snap, usage) and location in snap.locations:
            writer.move(issue_id(usage_id), location, sku, -amount, "usage", job_id=job_id,
                        device_time=usage["device_time"], note=f"goods issue of part_usage {usage_id}")
            issued = True
        if issued and reversal_id(usage_id) not in snap.moves and (usage.voided or moved_by_device(snap, usage)):
            why = "voided" if usage.voided else "moved by its own device"
            writer.move(reversal_id(usage_id), location, sku, amount, "return", job_id=job_id,
                        device_time=usage["device_time"], note=f"part_usage {usage_id} {why}: goods issue reversed")


def receipts(snap: Snapshot) -> dict[str, list[Record]]:
    """Per kit, the live 'kit_in' movements devices booked for it: the kit is in the van."""
    found: dict[str, list[Record]] = {}
    for move_id in sorted(snap.moves):
        move = snap.moves[move_id]
        if move["kit_id"] and move["reason"] == "kit_in" and move.node != snap.node and not move.voided:
            found.setdefault(move["kit_id"], []).append(move)
    return found


def kit_lines(kit: dict[str, Any]) -> list[tuple[str, Decimal]]:
    """A kit's lines summed per SKU, in SKU order."""
    totals: dict[str, Decimal] = {}
    for line in kit.get("lines") or []:
        totals[line["sku"]] = totals.get(line["sku"], Decimal(0)) + qty(line["qty"])
    return sorted(totals.items())


def kit_out(writer: Writer, kit_id: str, kit: dict[str, Any], device_time: str) -> list[dict[str, Any]]:
    """The warehouse side of a parts kit: per SKU a 'kit_out' move of -qty (the van's terminal
    books the 'kit_in' when the kit arrives). The van's rows are named now, so the receipt lands
    on a row every device of the van receives."""
    for sku, _amount in kit_lines(kit):
        writer.name_row(kit["to_location_id"], sku)
    return [writer.move(kit_out_id(kit_id, sku), kit["from_location_id"], sku, -amount, "kit_out",
                        kit_id=kit_id, job_id=kit.get("job_id"), device_time=device_time,
                        note=f"parts kit {kit_id} to {kit['to_location_id']}")
            for sku, amount in kit_lines(kit)]


def kit_moves(snap: Snapshot, writer: Writer, now_iso: str) -> None:
    """Kits dispatched some other way (the generic parts_kits routes), or received in the van
    whatever the hub last heard, leave their warehouse here too; a kit cancelled after it left
    comes back to it (and leaves again if the van received it after all: ``inventory_settle``)."""
    arrived = receipts(snap)
    for kit_id, kit in sorted(snap.kits.items()):
        status = kit.get("status", "prepared")
        source = kit.get("from_location_id")
        if source not in snap.locations:
            continue
        for sku, amount in kit_lines(kit):
            out = snap.moves.get(kit_out_id(kit_id, sku))
            if out is None and (status in KIT_GONE or kit_id in arrived):
                [out_record] = kit_out(writer, kit_id, {**kit, "lines": [{"sku": sku, "qty": qty_text(amount)}]},
                                       now_iso)
                out_qty = qty(out_record["qty"])
            elif out is None:
                continue
            else:
                out_qty = qty(out["qty"])
            if status == "cancelled" and kit_return_id(kit_id, sku) not in snap.moves:
                writer.move(kit_return_id(kit_id, sku), source, sku, -out_qty, "return", kit_id=kit_id,
                            job_id=kit.get("job_id"), device_time=now_iso,
                            note=f"parts kit {kit_id} cancelled before it reached {kit.get('to_location_id')}")
