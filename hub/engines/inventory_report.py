"""What the office reads of the stock: levels per location and SKU, and the reconciliation.

The reconciliation holds each stock row's ``on_hand`` counter against the ledger. Every delta
of the counter should have its movement beside it, written together by the same node, so per
author node the deltas it wrote must equal its live movements:

- the hub's deltas without a movement are the row's **opening** balance — stock loaded onto the
  counter before the ledger existed (imports, seed data) — and count as explained;
- a device's deltas that differ from its movements are the **difference**, flagged, with that
  device's movements (voided ones too) as the explanation: typically half of a write whose
  other half has not arrived yet, or a void whose quantity was never put back.

A van row also shows kits in transit to it, and flags a kit received with other quantities than
the warehouse sent, or received although the office had cancelled it; ``pending_issue`` is part
use from the location not issued yet (its job is still open). Reading every counter delta takes
one pass over the op log: a report, not a hot path.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sync.ops import INCR

from ..store import HubStore
from .inventory_moves import CLOSED_JOB, hub_moves_it, kit_lines
from .inventory_state import Record, Snapshot, qty, qty_text, stock_id


def split_row_id(row_id: str) -> tuple[str, str]:
    """``<location>:<sku>`` -> (location, sku); SKUs hold no ':'."""
    location, _, sku = row_id.rpartition(":")
    return location, sku


def stock_rows(snap: Snapshot, location_id: str | None = None, sku: str | None = None) -> list[dict[str, Any]]:
    """On hand, reserved and available (on hand less reserved) per location and SKU, by row id."""
    rows = []
    moved = {stock_id(m["location_id"], m["sku"]) for m in snap.moves.values()}
    # A row only named so far (a van's row for a kit on its way) holds nothing to show.
    held = {row_id for row_id, row in snap.stock.items() if "on_hand" in row or "reserved" in row}
    for row_id in sorted(held | moved):
        location, item = split_row_id(row_id)
        if (location_id and location != location_id) or (sku and item != sku):
            continue
        on_hand, reserved = snap.stock_level(location, item), snap.stock_level(location, item, "reserved")
        rows.append({"id": row_id, "location_id": location, "sku": item,
                     "location_kind": snap.locations.get(location, {}).get("kind"),
                     "on_hand": qty_text(on_hand), "reserved": qty_text(reserved),
                     "available": qty_text(on_hand - reserved)})
    return rows


def _deltas(store: HubStore, row_ids: list[str]) -> dict[str, dict[str, Decimal]]:
    """Per stock row, the on_hand deltas summed per author node."""
    found: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for op in store.replica.history_ops([("stock", row_id) for row_id in row_ids]):
        if op.entity == "stock" and op.action == INCR and op.field == "on_hand":
            found[op.eid][op.node] += qty(op.value)
    return found


def _move_json(move: Record) -> dict[str, Any]:
    return {"id": move.id, "qty": move["qty"], "reason": move["reason"], "job_id": move["job_id"],
            "kit_id": move["kit_id"], "device_time": move["device_time"], "voided": move.voided,
            "by": f"{move.node}:{move.counter}"}


def _kits(kits: list[tuple[str, dict[str, Any]]], sku: str, moves: list[Record]) -> tuple[Decimal, list[dict]]:
    """(quantity in transit to this van, kits received with other quantities than were sent, or
    received after the office cancelled them)."""
    in_transit, flagged = Decimal(0), []
    for kit_id, kit in kits:
        sent = dict(kit_lines(kit)).get(sku, Decimal(0))
        status = kit.get("status", "prepared")
        # What the van booked for the kit: its receipts, less those of a second terminal.
        booked = [m for m in moves if m["kit_id"] == kit_id and m["reason"] in ("kit_in", "adjustment")
                  and not m.voided]
        received = sum((qty(m["qty"]) for m in booked), Decimal(0))
        if status == "dispatched":
            in_transit += sent
        elif status == "received" and received != sent:
            flagged.append({"kit_id": kit_id, "sent": qty_text(sent), "received": qty_text(received),
                            "difference": qty_text(received - sent)})
        elif status == "cancelled" and booked:
            flagged.append({"kit_id": kit_id, "sent": qty_text(sent), "received": qty_text(received),
                            "difference": qty_text(received - sent),
                            "why": "cancelled at the hub but received in the van: counted in the van, "
                                   "not back in the warehouse"})
    return in_transit, flagged


def reconciliation(store: HubStore, snap: Snapshot, location_id: str | None = None,
                   sku: str | None = None) -> list[dict[str, Any]]:
    """One row per location and SKU: counter against ledger, flagged where they differ."""
    levels = stock_rows(snap, location_id, sku)
    deltas = _deltas(store, [row["id"] for row in levels])
    moves_at: dict[str, list[Record]] = defaultdict(list)
    for move_id in sorted(snap.moves):
        move = snap.moves[move_id]
        moves_at[stock_id(move["location_id"], move["sku"])].append(move)
    pending: dict[str, Decimal] = defaultdict(Decimal)
    for usage in snap.part_usages.values():
        closed = snap.jobs.get(usage["job_id"], {}).get("status") in CLOSED_JOB
        if not usage.voided and not closed and hub_moves_it(snap, usage):
            pending[stock_id(usage["location_id"], usage["sku"])] += qty(usage["qty"])
    kits_to: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for kit_id, kit in sorted(snap.kits.items()):
        kits_to[kit.get("to_location_id") or ""].append((kit_id, kit))
    report = []
    for level in levels:
        row_id, moves = level["id"], moves_at[level["id"]]
        live = [m for m in moves if not m.voided]
        by_node: dict[str, Decimal] = defaultdict(Decimal)
        for move in live:
            by_node[move.node] += qty(move["qty"])
        written = deltas.get(row_id, {})
        opening = written.get(snap.node, Decimal(0)) - by_node.get(snap.node, Decimal(0))
        explain = []
        for node in sorted((set(written) | set(by_node)) - {snap.node}):
            gap = written.get(node, Decimal(0)) - by_node.get(node, Decimal(0))
            if gap:
                explain.append({"node": node, "deltas": qty_text(written.get(node, Decimal(0))),
                                "moves_total": qty_text(by_node.get(node, Decimal(0))), "difference": qty_text(gap),
                                "moves": [_move_json(m) for m in moves if m.node == node]})
        in_transit, kits = _kits(kits_to[level["location_id"]], level["sku"], moves)
        difference = qty(level["on_hand"]) - sum(by_node.values(), Decimal(0)) - opening
        report.append({**level, "moves_total": qty_text(sum(by_node.values(), Decimal(0))),
                       "opening": qty_text(opening), "difference": qty_text(difference),
                       "balanced": not difference and not kits, "pending_issue": qty_text(pending[row_id]),
                       "in_transit": qty_text(in_transit), "moves": len(live), "explain": explain, "kits": kits})
    return report
