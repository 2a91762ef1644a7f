"""What the inventory engine reads: the merged stock ledger and the work around it, as plain data.

No decisions here: :func:`read` copies the merged state the inventory rules need out of the hub's
replica (stock locations, technicians, jobs, work orders, part usage, stock moves and levels,
parts kits, and what the engine wrote before: stock exceptions and purchase requests), and the
small value helpers every inventory module shares live beside it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sync.hlc import order_key
from sync.kinds.append import effective_voids
from sync.ops import OpId

from ..store import HubStore


def qty(value: Any) -> Decimal:
    """A quantity as a Decimal (counters read as ints or decimal strings; absent is zero)."""
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def qty_text(number: Decimal) -> str:
    """One spelling per quantity ("3", "-1.5", never "3.0" or "1E+1"): derived ids and records
    built from it are then the same whatever sum produced it."""
    if not number:
        return "0"
    return format(number.normalize(), "f")


def derived_id(kind: str, *parts: str) -> str:
    """A deterministic id for something the engine writes because of ``parts`` (a part use, a
    kit line, a shortfall episode): the same cause always yields the same id, so a second run
    finds what the first wrote instead of writing it again."""
    digest = hashlib.sha256("\x1f".join((kind, *parts)).encode()).hexdigest()[:24]
    return f"{kind}-{digest}"


def stock_id(location_id: str, sku: str) -> str:
    return f"{location_id}:{sku}"


@dataclass(frozen=True)
class Record:
    """An append-only record as merged: its value, whether it is voided, and who wrote it when."""

    id: str
    value: dict[str, Any]
    voided: bool
    node: str
    counter: int
    hlc: int

    @property
    def key(self) -> tuple[int, str, int]:
        """Its place in the total order of ops (HLC, node, counter): the same on every replica."""
        return order_key(self.hlc, self.node, self.counter)

    def __getitem__(self, name: str) -> Any:
        return self.value.get(name)


@dataclass
class Snapshot:
    """The merged state the inventory rules decide from."""

    node: str
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    technicians: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    work_orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    part_usages: dict[str, Record] = field(default_factory=dict)
    moves: dict[str, Record] = field(default_factory=dict)
    stock: dict[str, dict[str, Any]] = field(default_factory=dict)
    kits: dict[str, dict[str, Any]] = field(default_factory=dict)
    exceptions: dict[str, Record] = field(default_factory=dict)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    # For each voided exception, the voids that keep it voided (voiding them raises it again).
    exception_voids: dict[str, list[OpId]] = field(default_factory=dict)
    # The same for the hub's own voided stock movements (a settling movement may be wanted again).
    move_voids: dict[str, list[OpId]] = field(default_factory=dict)
    # (row id, field, value): a stock row's name written by two devices at once, the same both times
    # (agents before the hub named rows alone); open until the hub writes it having seen both.
    twin_names: list[tuple[str, str, Any]] = field(default_factory=list)
    default_warehouse: str | None = None

    def warehouse(self) -> str | None:
        """Where a work order's parts are reserved before a van is known: the configured default
        warehouse, else the only warehouse there is, else none."""
        warehouses = sorted(eid for eid, row in self.locations.items() if row.get("kind") == "warehouse")
        if self.default_warehouse in warehouses:
            return self.default_warehouse
        return warehouses[0] if len(warehouses) == 1 else None

    def van_of(self, technician_id: str | None) -> str | None:
        return self.technicians.get(technician_id or "", {}).get("van_id")

    def stock_level(self, location_id: str, sku: str, name: str = "on_hand") -> Decimal:
        return qty(self.stock.get(stock_id(location_id, sku), {}).get(name))


def _rows(store: HubStore, entity: str) -> dict[str, dict[str, Any]]:
    replica = store.replica
    found = {}
    for eid in replica.entity_ids(entity):
        store.give_way()
        row = replica.entity(entity, eid)
        if row and not row.get("_deleted"):
            found[eid] = row
    return found


def _records(store: HubStore, entity: str) -> dict[str, Record]:
    replica = store.replica
    found = {}
    for eid in replica.entity_ids(entity):
        store.give_way()
        raw = replica.entity(entity, eid)
        if not raw or "value" not in raw:
            continue
        node, _, counter = raw["by"].rpartition(":")
        found[eid] = Record(eid, raw["value"], bool(raw["voided"]), node, int(counter), int(raw["hlc"]))
    return found


def _live_voids(store: HubStore, entity: str, eid: str) -> list[OpId]:
    register = store.replica.register(entity, eid)
    if register is None or register.record is None:
        return []
    effective = effective_voids(register.entries, register.voids)
    return [void.id for void in register.voids if void.id in effective and void.target == register.record.id]


def read(store: HubStore) -> Snapshot:
    """Copy out everything the inventory rules look at (call under the store's lock)."""
    snap = Snapshot(
        node=store.replica.node,
        locations=_rows(store, "stock_location"),
        technicians=_rows(store, "technician"),
        jobs=_rows(store, "job"),
        work_orders=_rows(store, "work_order"),
        part_usages=_records(store, "part_usage"),
        moves=_records(store, "stock_move"),
        stock=_rows(store, "stock"),
        kits=_rows(store, "parts_kit"),
        exceptions=_records(store, "stock_exception"),
        requests=_rows(store, "purchase_request"),
        # Not a HubConfig field yet: FIELDSYNC_DEFAULT_WAREHOUSE once it is (see the README).
        default_warehouse=store.config.default_warehouse,
    )
    snap.exception_voids = {eid: _live_voids(store, "stock_exception", eid)
                            for eid, record in snap.exceptions.items() if record.voided}
    snap.twin_names = sorted({(c["eid"], c["field"], c["value"]) for c in store.replica.conflicts("stock")
                              if c["kind"] == "lww" and not c["resolved_by"] and c["field"] in ("location_id", "sku")
                              and c["value"] == c["winner_value"]})
    snap.move_voids = {eid: _live_voids(store, "stock_move", eid)
                       for eid, record in snap.moves.items() if record.voided and record.node == snap.node}
    return snap
