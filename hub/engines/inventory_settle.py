"""Settling: the movements the hub writes so that parts recorded on several devices, offline, are
counted once.

Each device books what it sees, and some physical events reach the ledger twice:

- a kit the office cancelled while the van's terminal, offline, received it: the cancellation put
  the parts back in the warehouse, the receipt put them in the van. The receipt wins — the parts
  are in the van — so the warehouse gives them up again (``kd``, a 'kit_out');
- one kit received by two terminals of a van: the first device to book it (in the order of ops)
  counts, every other device's receipt is kept and offset (``kx``, an 'adjustment');
- parts the terminal handed out for a job and then used on that job from the tablet: the hand-out
  took them from the van, so each use of them is put back once (``hx``, a 'return');
- a shelf count: it says what the shelf held at its time, so its effective change is the count
  less the balance all the movements before it (by HLC, whenever they arrived) leave, not less
  what the terminal happened to know. A use before the count is in the count; one after it is
  not (``cx``, a 'count' correcting the terminal's adjustment).

What is wanted is a pure function of the merged state, each settling movement with an id derived
from its cause and its quantity. A settling movement the state no longer calls for (its cause
voided, a larger quantity due) is voided with its on_hand delta taken back, and one called for
again is revived, so the live ledger and the stock are the same whatever order the ops arrived
in. In the ledger's replay a settling movement stands right after its cause.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from .inventory_moves import Writer, issue_id, kit_lines, kit_return_id, moved_by_device, receipts, reversal_id
from .inventory_state import Record, Snapshot, derived_id, qty, qty_text

Key = tuple[str, str]  # (location, sku)
Order = tuple  # an op's order key, or a cause's key with (1,) after it: right after the cause

KINDS = ("kd", "kx", "hx", "cx")


def settling(snap: Snapshot, move_id: str, move: Record) -> bool:
    """Whether ``move`` is one of the hub's settling movements (their ids are ``<kind>-<digest>``)."""
    return move.node == snap.node and move_id.partition("-")[0] in KINDS


@dataclass(frozen=True)
class Fix:
    """A settling movement the state calls for."""

    id: str
    at: Order
    location_id: str
    sku: str
    qty: Decimal
    reason: str
    job_id: str | None
    kit_id: str | None
    note: str
    device_time: str


@dataclass(frozen=True)
class Entry:
    """One live movement in replay order; ``counted`` is what the shelf held at a count."""

    order: Order
    move_id: str
    qty: Decimal
    job_id: str | None
    part_usage_id: str | None
    device_time: str
    counted: Decimal | None = None


def _counted(snap: Snapshot, move: Record) -> Decimal | None:
    if move["reason"] != "count" or move.node == snap.node or move["counted"] in (None, ""):
        return None
    return qty(move["counted"])


def ledger(snap: Snapshot, fixes: dict[str, Fix]) -> dict[Key, list[Entry]]:
    """Each location's live movements in replay order, ``fixes`` standing in for the settling
    movements written so far. A goods issue the hub wrote stands at its part use's place; an
    issue and its reversal cancel out and are left out together."""
    issues = {issue_id(eid): usage for eid, usage in snap.part_usages.items()}
    reversals = {reversal_id(eid) for eid in snap.part_usages}
    found: dict[Key, list[Entry]] = defaultdict(list)
    for move_id, move in snap.moves.items():
        if move.voided or settling(snap, move_id, move):
            continue
        order: Order = move.key
        source = move_id if move_id in snap.part_usages else None
        if move.node == snap.node and move_id in reversals:
            continue
        if move.node == snap.node and move_id in issues:
            usage = issues[move_id]
            if reversal_id(usage.id) in snap.moves:
                continue
            order, source = usage.key, usage.id
        found[move["location_id"], move["sku"]].append(
            Entry(order, move_id, qty(move["qty"]), move["job_id"], source, move["device_time"], _counted(snap, move)))
    for fix in fixes.values():
        found[fix.location_id, fix.sku].append(Entry(fix.at, fix.id, fix.qty, fix.job_id, None, fix.device_time))
    for entries in found.values():
        entries.sort(key=lambda entry: entry.order)
    return found


def openings(snap: Snapshot) -> dict[Key, Decimal]:
    """What each location held before its first movement: on hand less every live movement — a
    balance written straight onto the counter, e.g. stock loaded before the ledger existed."""
    moved: dict[Key, Decimal] = defaultdict(Decimal)
    for move in snap.moves.values():
        if not move.voided:
            moved[move["location_id"], move["sku"]] += qty(move["qty"])
    return {(location, sku): snap.stock_level(location, sku) - total for (location, sku), total in moved.items()}


def _after(move: Record) -> Order:
    return (*move.key, 1)


def _kits(snap: Snapshot) -> list[Fix]:
    found = []
    for kit_id, booked in sorted(receipts(snap).items()):
        first = min(booked, key=lambda move: move.key).node
        found.extend(Fix(derived_id("kx", move.id), _after(move), move["location_id"], move["sku"], -qty(move["qty"]),
                         "adjustment", move["job_id"], kit_id,
                         f"parts kit {kit_id} was received by {first} first: this receipt by {move.node} "
                         f"({move.id}) is kept and adds nothing", move["device_time"])
                     for move in booked if move.node != first)
        kit = snap.kits.get(kit_id, {})
        for sku, _amount in kit_lines(kit):
            back = snap.moves.get(kit_return_id(kit_id, sku))
            if back is not None and not back.voided:
                found.append(Fix(derived_id("kd", kit_id, sku), _after(back), back["location_id"], sku,
                                 -qty(back["qty"]), "kit_out", kit.get("job_id"), kit_id,
                                 f"parts kit {kit_id} was received in {kit.get('to_location_id')} although cancelled: "
                                 "the parts are in the van, not back on the shelf", back["device_time"]))
    return found


def _hand_outs(snap: Snapshot) -> list[Fix]:
    """A technician's use from the van, on a job, of parts the van's terminal handed out to them
    for that job before it (in the order of ops) gives them back once: they left at the hand-out."""
    events: list[tuple[Order, Record]] = []
    for move in snap.moves.values():
        if not move.voided and move["reason"] == "usage" and move["job_id"] and move["technician_id"]:
            events.append((move.key, move))
    for usage in snap.part_usages.values():
        if not usage.voided and moved_by_device(snap, usage) and not snap.moves[usage.id].voided:
            events.append((_after(snap.moves[usage.id]), usage))
    pool: dict[tuple[str, str, str, str], Decimal] = defaultdict(Decimal)
    found = []
    for _order, record in sorted(events, key=lambda event: event[0]):
        key = (record["location_id"], record["job_id"], record["sku"], record["technician_id"])
        if record.id in snap.part_usages:
            covered = min(pool[key], qty(record["qty"]))
            if covered > 0:
                pool[key] -= covered
                found.append(Fix(derived_id("hx", record.id, qty_text(covered)), _order, record["location_id"],
                                 record["sku"], covered, "return", record["job_id"], None,
                                 f"part_usage {record.id}: the van's terminal handed these parts out to "
                                 f"{record['technician_id']} for {record['job_id']} already", record["device_time"]))
        else:
            pool[key] += -qty(record["qty"])
    return found


def _counts(snap: Snapshot, fixes: dict[str, Fix]) -> list[Fix]:
    found = []
    starts = openings(snap)
    for (location, sku), entries in sorted(ledger(snap, fixes).items()):
        balance = starts.get((location, sku), Decimal(0))
        for entry in entries:
            if entry.counted is None:
                balance += entry.qty
                continue
            correction = entry.counted - balance - entry.qty
            if correction:
                found.append(Fix(derived_id("cx", entry.move_id, qty_text(correction)), (*entry.order, 1), location,
                                 sku, correction, "count", None, None,
                                 f"count {entry.move_id} of {qty_text(entry.counted)}: with every movement known now "
                                 f"{location} held {qty_text(balance)} {sku} before it", entry.device_time))
            balance = entry.counted
    return found


def wanted(snap: Snapshot) -> dict[str, Fix]:
    """Every settling movement the merged state calls for, by id."""
    fixes = {fix.id: fix for fix in (*_kits(snap), *_hand_outs(snap))}
    # A count sees the other settling movements before it, so they are decided first.
    fixes.update((fix.id, fix) for fix in _counts(snap, fixes))
    return fixes


def settle(snap: Snapshot, writer: Writer) -> None:
    """Write the settling movements wanted and not written, revive those voided but wanted again,
    and void (taking their delta back) those no longer wanted."""
    fixes = wanted(snap)
    for fix_id, fix in sorted(fixes.items()):
        have = snap.moves.get(fix_id)
        if have is None:
            writer.move(fix_id, fix.location_id, fix.sku, fix.qty, fix.reason, device_time=fix.device_time,
                        job_id=fix.job_id, kit_id=fix.kit_id, note=fix.note)
        elif have.voided:
            writer.revive(have, snap.move_voids.get(fix_id, []))
    for move_id, move in sorted(snap.moves.items()):
        if settling(snap, move_id, move) and not move.voided and move_id not in fixes:
            writer.withdraw(move, "no longer called for by the movements merged since")
