"""What each device receives (its scope) and what it may change (its write policy).

A technician's tablet receives its assigned jobs with their work order, ticket, customer, site,
asset (and the asset's service history), contract and SLA policy; the records of those jobs; the
parts catalogue; its van's stock. A van-stock terminal receives its van's stock and the jobs of the
technicians who work from the van. A job reassigned away stops flowing: it leaves the scope.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import cached_property

import orjson

from schema.resources import pieces_refused
from sync.ops import APPEND, INCR, MOVE, SET, VOID, Op
from sync.replica import Rejection

from .auth import Device
from .links import Links
from .store import HubStore

# What happens on site: records that hang off a job, and the ticket's comment thread.
JOB_RECORDS = ("check_event", "time_log", "part_usage", "checklist_step", "attachment", "signature")
# Entity types every device receives whole: the catalogue and reference data.
WHOLE_TYPES = frozenset({"item", "checklist_template"})
# The job fields a technician changes from the field; assignment and scheduling stay with dispatch.
TECHNICIAN_JOB_FIELDS = frozenset({"status", "completion_notes", "problem"})


@dataclass(frozen=True)
class Scope:
    """Entities a device holds or should hold. ``types`` are entity types held whole; an empty
    Scope is what a device that never synced holds. Immutable: one scope of 100,000 records is
    shared by every page of a bootstrap and every pull that asks for it, never copied."""

    entities: frozenset[tuple[str, str]] = frozenset()
    types: frozenset[str] = frozenset()
    jobs: frozenset[str] = frozenset()
    tickets: frozenset[str] = frozenset()
    vans: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("entities", "types", "jobs", "tickets", "vans"):
            value = getattr(self, name)
            if not isinstance(value, frozenset):
                object.__setattr__(self, name, frozenset(value))

    @cached_property
    def ordered(self) -> tuple[tuple[str, str], ...]:
        """The entities sorted: the order their history goes in, sorted once per scope."""
        return tuple(sorted(self.entities))

    def contains(self, entity: str, eid: str) -> bool:
        return entity in self.types or (entity, eid) in self.entities

    def dumps(self) -> str:
        """The scope as JSON text (what a device was offered, what it holds). Written on every
        page of a pull: entities go grouped by type and unsorted, which for 100,000 records is
        several times faster than sorting the pairs, and a fifth smaller."""
        grouped: dict[str, list[str]] = {}
        for entity, eid in self.entities:
            eids = grouped.get(entity)
            if eids is None:
                grouped[entity] = [eid]
            else:
                eids.append(eid)
        text = orjson.dumps({
            "entities": grouped, "types": sorted(self.types), "jobs": sorted(self.jobs),
            "tickets": sorted(self.tickets), "vans": sorted(self.vans),
        }).decode()
        _parsed.keep(text, self)
        return text

    @classmethod
    def loads(cls, text: str | None) -> Scope:
        """The scope :meth:`dumps` wrote (or the list of pairs it wrote before)."""
        if not text:
            return cls()
        known = _parsed.get(text)
        if known is not None:
            return known
        data = orjson.loads(text)
        raw = data["entities"]
        entities = (frozenset((entity, eid) for entity, eids in raw.items() for eid in eids) if isinstance(raw, dict)
                    else frozenset((entity, eid) for entity, eid in raw))
        scope = cls(entities, frozenset(data["types"]), frozenset(data["jobs"]), frozenset(data["tickets"]),
                    frozenset(data["vans"]))
        _parsed.keep(text, scope)
        return scope

    def union(self, other: Scope) -> Scope:
        return Scope(self.entities | other.entities, self.types | other.types, self.jobs | other.jobs,
                     self.tickets | other.tickets, self.vans | other.vans)


class _KeptScopes:
    """A few big scopes by a key that names their content exactly (so an entry is never stale)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._scopes: OrderedDict[Hashable, Scope] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, key: Hashable, scope: Scope) -> None:
        if len(scope.entities) < _WORTH_KEEPING:
            return
        with self._lock:
            self._scopes[key] = scope
            while len(self._scopes) > self.size:
                self._scopes.popitem(last=False)

    def get(self, key: Hashable) -> Scope | None:
        with self._lock:
            return self._scopes.get(key)


# Below this many entities a scope costs less to compute or parse than to look up.
_WORTH_KEEPING = 1000
# Scopes by their text: each pull page reads back, as what the device holds, the scope the page
# before wrote, and parsing a big one costs more than the rest of the page.
_parsed = _KeptScopes()


class _ComputedScopes(_KeptScopes):
    """A hub's scopes by what they are computed from (see compute_scope): kept per hub, as two
    hubs' logs may well end at the same place."""


def compute_scope(store: HubStore, device: Device) -> Scope:
    """What ``device`` should hold now. A scope follows the links alone, which change only with
    ops the hub accepts, and every batch accepted adds to the op log: so the log's end names
    the links' state, and a scope computed at one end holds until the next (a bootstrap asks
    for the same scope of 100,000 records on each of its pages)."""
    kept = store.kept(_ComputedScopes)
    key = (device.kind, device.technician_id, device.van_id, store.replica.log_end())
    known = kept.get(key)
    if known is not None:
        return known
    scope = _compute_scope(store, device)
    kept.keep(key, scope)
    return scope


def _compute_scope(store: HubStore, device: Device) -> Scope:
    links = store.links
    if device.kind == "technician":
        technicians = {device.technician_id} if device.technician_id else set()
        vans = links.targets("technician", technicians, "van_id")
    else:
        vans = {device.van_id} if device.van_id else set()
        technicians = links.sources("technician", "van_id", vans)
    jobs = links.sources("job", "technician_id", technicians) | links.sources("job", "crew_ids", technicians)
    return _job_scope(links, jobs, technicians, vans)


def _job_scope(links: Links, jobs: set[str], technicians: set[str], vans: set[str]) -> Scope:
    work_orders = links.targets("job", jobs, "work_order_id")
    tickets = links.targets("job", jobs, "ticket_id") | links.targets("work_order", work_orders, "ticket_id")
    customers = links.targets("ticket", tickets, "customer_id")
    sites = links.targets("ticket", tickets, "site_id")
    assets = links.targets("ticket", tickets, "asset_id")
    contracts = links.targets("ticket", tickets, "contract_id")
    policies = links.targets("contract", contracts, "sla_policy_id")
    # The asset's service history: earlier tickets on the same equipment, their work orders and
    # jobs, and the parts those jobs used.
    past_tickets = links.sources("ticket", "asset_id", assets) - tickets
    past_orders = links.sources("work_order", "ticket_id", past_tickets)
    past_jobs = links.sources("job", "work_order_id", past_orders)
    entities: set[tuple[str, str]] = set()

    def add(entity: str, eids: Iterable[str]) -> None:
        entities.update((entity, eid) for eid in eids)

    add("job", jobs | past_jobs)
    add("work_order", work_orders | past_orders)
    add("ticket", tickets | past_tickets)
    add("customer", customers | links.targets("ticket", past_tickets, "customer_id"))
    add("site", sites)
    add("asset", assets)
    add("contract", contracts)
    add("sla_policy", policies)
    add("technician", technicians)
    add("stock_location", vans)
    entities |= links.referrers("job_id", jobs, JOB_RECORDS)
    entities |= links.referrers("job_id", past_jobs, ("part_usage",))
    entities |= links.referrers("ticket_id", tickets, ("ticket_comment",))
    entities |= links.referrers("location_id", vans, ("stock", "stock_move"))
    entities |= links.referrers("to_location_id", vans, ("parts_kit",))
    return Scope(entities, WHOLE_TYPES, set(jobs), set(tickets), set(vans))


def check_write(store: HubStore, device: Device, scope: Scope, op: Op) -> Rejection | None:
    """Whether ``device`` may author ``op``; a Rejection (kept in quarantine) if not.

    ``scope`` should be what the device may still be acting on: its current scope together with
    the one it last synced, so work recorded offline on a job reassigned meanwhile is accepted.
    """
    if op.entity == "job":
        if op.eid not in scope.jobs:
            return Rejection("eid", f"job {op.eid} is not assigned to this device")
        if device.kind != "technician" or op.action not in (SET, MOVE) or op.field not in TECHNICIAN_JOB_FIELDS:
            return Rejection("field", f"a device may change only {', '.join(sorted(TECHNICIAN_JOB_FIELDS))} of a job")
        return None
    if op.entity in JOB_RECORDS or op.entity == "ticket_comment":
        return _check_record(store, device, scope, op)
    if op.entity in ("stock", "stock_move"):
        return _check_stock(store, device, scope, op)
    if op.entity == "parts_kit":
        destination = store.replica.entity("parts_kit", op.eid).get("to_location_id")
        if op.action == MOVE and op.field == "status" and op.value == "received" and destination in scope.vans:
            return None
        return Rejection("status", "a device may only mark as received a kit sent to its van")
    return Rejection("entity", f"a {device.kind} device may not change {op.entity} records")


def _check_record(store: HubStore, device: Device, scope: Scope, op: Op) -> Rejection | None:
    if op.action == VOID:
        return _check_own_void(store, device, op)
    if op.action != APPEND:
        return Rejection("action", "records are created whole and corrected by voids")
    parent_field, parents = ("ticket_id", scope.tickets) if op.entity == "ticket_comment" else ("job_id", scope.jobs)
    parent = op.value.get(parent_field) if isinstance(op.value, dict) else None
    if not _names_one_of(parent, parents):
        return Rejection(parent_field, f"{parent!r} is not a job or ticket this device works on")
    if op.entity == "part_usage":
        # Parts from another van are recorded (the technician is never blocked); the hub's
        # inventory engine raises the stock exception. Only half a pump is refused.
        return _check_pieces(store, op.value)
    return None


def _check_pieces(store: HubStore, record: dict) -> Rejection | None:
    sku = record.get("sku")
    refused = pieces_refused(record, store.replica.entity("item", sku)) if isinstance(sku, str) else None
    return Rejection(*refused) if refused else None


def _check_own_void(store: HubStore, device: Device, op: Op) -> Rejection | None:
    target = op.refs[0] if op.refs else None
    if target is None or target.node != device.node:
        return Rejection("refs", "a device may void only records it created itself")
    return None


def _check_stock(store: HubStore, device: Device, scope: Scope, op: Op) -> Rejection | None:
    if op.entity == "stock":
        location = op.eid.split(":", 1)[0]
        if location not in scope.vans:
            return Rejection("eid", f"stock of {location} belongs to another van")
        if op.action == INCR and op.field == "on_hand":
            return None
        if op.action == SET and op.field in ("location_id", "sku"):
            return None
        return Rejection("field", "a device changes a van's stock only through on_hand deltas")
    if op.action == VOID:
        return _check_own_void(store, device, op)
    location = op.value.get("location_id") if isinstance(op.value, dict) else None
    if op.action != APPEND or not _names_one_of(location, scope.vans):
        return Rejection("location_id", f"{location!r} is not this device's van")
    return _check_pieces(store, op.value)


def _names_one_of(parent: object, ids: frozenset[str]) -> bool:
    """Whether a pushed record's parent id is one of ``ids``. A device may send any JSON there, and
    a list or an object cannot even be looked up in a set (unhashable): it names nothing."""
    return isinstance(parent, str) and parent in ids
