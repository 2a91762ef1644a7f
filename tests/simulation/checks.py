"""What must hold once the network has healed and everyone has synced until quiet.

Each check returns a list of failures (plain sentences naming what differs); an empty list is a
pass. They read the hub's store and the agents' replicas directly, not through the code under
test where that can be avoided: the ledgers are the simulation's own, invoices are netted here
line by line, and stock is held to the inventory report's own definition of a difference.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from hub.auth import get_device
from hub.engines import inventory_report, inventory_state
from hub.scope import compute_scope
from hub.store import HubStore
from sync.store import SqliteReplica

from .world import SimDevice, SimHub

BILLED_RECORDS = ("time_log", "part_usage")


def server_errors(hub: SimHub) -> list[str]:
    """No request may ever have been answered 5xx."""
    return [f"the hub answered a server error: {error}" for error in hub.server_errors[:5]]


def nothing_lost(hub: SimHub, devices: Iterable[SimDevice], created: Iterable[tuple[str, str]]) -> list[str]:
    """Every op an agent reported as recorded is at the hub, accepted and unchanged; the hub's
    vector for each device is what the device authored; whatever the hub acknowledged to a push,
    and every record the office was told was created, is still there after every crash; nothing
    waits in quarantine, and no device lists as refused what the hub holds as accepted."""
    store = hub.store
    failures = []
    vector = store.replica.vector()
    quarantined = Counter(entry["id"].rpartition(":")[0] for entry in store.replica.quarantined())
    tops = store.replica.max_counters()
    for device in devices:
        node = device.node
        authored = device.agent.replica.max_counters().get(node, 0)
        if sorted(device.ledger) != list(range(1, authored + 1)):
            failures.append(f"{device.name}: the device holds {authored} ops of its own, but recorded "
                            f"{len(device.ledger)} (counters {min(device.ledger, default=0)}.."
                            f"{max(device.ledger, default=0)})")
        if vector.get(node, 0) != authored:
            failures.append(f"{device.name}: the hub's vector says {vector.get(node, 0)}, "
                            f"the device authored {authored}")
        if hub.acked.get(node, 0) > vector.get(node, 0):
            failures.append(f"{device.name}: the hub acknowledged {hub.acked[node]} ops, holds {vector.get(node, 0)}")
        if quarantined[node]:
            failures.append(f"{device.name}: {quarantined[node]} of its ops are in quarantine at the hub: "
                            + "; ".join(f"{q['id']} {q['field']}: {q['reason']}" for q in store.replica.quarantined()
                                        if q["id"].rpartition(":")[0] == node)[:600])
        floors = {other: top for other, top in tops.items() if other != node}
        at_hub = {op.counter: op for op in store.replica.ops_after(floors, 1 << 30)}
        changed = [counter for counter, op in device.ledger.items() if at_hub.get(counter) not in (None, op)]
        missing = [counter for counter in device.ledger if counter not in at_hub]
        if missing:
            failures.append(f"{device.name}: ops recorded but missing at the hub: {missing[:10]}")
        if changed:
            failures.append(f"{device.name}: ops that differ at the hub from what was recorded: {changed[:10]}")
        status = device.agent.status()
        if status["pending_ops"] or status["pending_blobs"]:
            failures.append(f"{device.name}: still waiting after healing: {status['pending_ops']} ops, "
                            f"{status['pending_blobs']} blobs")
        if status["refused_by_hub"] and not quarantined[node]:
            failures.append(f"{device.name}: lists ops as refused by the hub, which holds none of its ops in "
                            f"quarantine: {[r['id'] for r in status['refused_by_hub']][:10]}")
    gone = [(entity, eid) for entity, eid in created if not store.replica.entity(entity, eid)]
    if gone:
        failures.append(f"records the office was told were created are gone: {gone[:5]}")
    return failures


def scope_of(store: HubStore, device: SimDevice) -> set[tuple[str, str]]:
    """The entities the hub says the device should hold now."""
    scope = compute_scope(store, get_device(store, device.node))
    wanted = set(scope.entities)
    for entity in scope.types:
        wanted.update((entity, eid) for eid in store.replica.entity_ids(entity))
    return wanted


def replicas_agree(hub: SimHub, devices: Iterable[SimDevice]) -> list[str]:
    """Each device's replica equals the hub's on everything in the device's scope (registers and
    the conflicts kept), and the device holds all of it."""
    store = hub.store
    failures = []
    for device in devices:
        replica = device.agent.replica
        wanted = scope_of(store, device)
        if replica.canonical(wanted) == store.replica.canonical(wanted):
            continue
        differ = [key for key in sorted(wanted) if replica.canonical([key]) != store.replica.canonical([key])]
        failures.append(f"{device.name}: {len(differ)} of {len(wanted)} entities in scope differ from the hub, "
                        f"e.g. {differ[:4]}" + _first_difference(replica, store.replica, differ))
    return failures


def _first_difference(device: SqliteReplica, hub: SqliteReplica, keys: list[tuple[str, str]]) -> str:
    if not keys:
        return ""
    key = keys[0]
    return (f"\n      {key} on the device: {device.canonical([key]).decode()[:400]}"
            f"\n      {key} at the hub:    {hub.canonical([key]).decode()[:400]}")


def blobs_arrived(hub: SimHub, devices: Iterable[SimDevice]) -> list[str]:
    """Every photo and signature a device stored is at the hub, verified, with the right bytes."""
    store = hub.store
    failures = []
    for device in devices:
        for digest, size in device.agent.replica.conn.execute("SELECT sha256, size FROM blob_queue"):
            row = store.conn.execute("SELECT size, status FROM blobs WHERE sha256 = ?", (digest,)).fetchone()
            path = store.config.blobs / digest[:2] / digest
            if row is None or row[1] != "verified" or row[0] != size:
                failures.append(f"{device.name}: blob {digest[:12]} ({size} B) is {row or 'absent'} at the hub")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                failures.append(f"{device.name}: blob {digest[:12]} at the hub does not hash to its name")
    return failures


def billed_once(hub: SimHub) -> list[str]:
    """No time log or part use is billed twice: over all non-void invoices, its charge lines less
    its credit lines are 0 or 1 — 0 once the record is voided, 1 once its ticket is resolved."""
    store = hub.store
    net: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], list[str]] = {}
    for invoice_id in store.replica.entity_ids("invoice"):
        invoice = store.replica.entity("invoice", invoice_id)
        if invoice.get("status") == "void":
            continue
        credit = invoice.get("kind") == "credit_note"
        for line in invoice.get("lines") or []:
            source = (line.get("source_entity"), line.get("source_id"))
            if source[0] in BILLED_RECORDS:
                net[source] += -1 if credit else 1
                where.setdefault(source, []).append(f"{invoice.get('kind')} {invoice_id[:13]} "
                                                    f"{invoice.get('status')} qty {line.get('qty')}")
    failures = []
    for source, count in sorted(net.items()):
        record = store.replica.entity(*source)
        if count not in (0, 1) or (count and record.get("voided")):
            state = "voided" if record.get("voided") else "live"
            failures.append(f"{source[0]} {source[1]} ({state}) is billed {count} times net: {where[source]}")
    for source in due_sources(store):
        if net[source] != 1:
            failures.append(f"{source[0]} {source[1]} is due (its ticket is resolved) but billed {net[source]} "
                            f"times net: {where.get(source, [])}")
    return failures


def due_sources(store: HubStore) -> list[tuple[str, str]]:
    """Time logs (billable) and part uses that stand, on jobs whose ticket is resolved or closed:
    each must be billed exactly once (every contract here is time and material, every part priced)."""
    due = []
    for entity in BILLED_RECORDS:
        for eid in store.replica.entity_ids(entity):
            record = store.replica.entity(entity, eid)
            value = record.get("value") or {}
            if record.get("voided") or value.get("billable") is False:
                continue
            job = store.replica.entity("job", value.get("job_id") or "")
            ticket = store.replica.entity("ticket", job.get("ticket_id") or "")
            if ticket.get("status") in ("resolved", "closed"):
                due.append((entity, eid))
    return due


def stock_balances(hub: SimHub) -> list[str]:
    """Per location and SKU, on hand equals the movements plus the opening balance, and every
    device's counter deltas equal its live movements (the inventory report's reconciliation)."""
    store = hub.store
    with store.reading():
        rows = inventory_report.reconciliation(store, inventory_state.read(store))
    return [f"stock {row['id']}: on hand {row['on_hand']}, movements {row['moves_total']}, opening "
            f"{row['opening']}, difference {row['difference']}; unexplained by device: "
            f"{[(e['node'], e['difference']) for e in row['explain']]}"
            for row in rows if row["difference"] != "0" or row["explain"]]


def run_all(hub: SimHub, devices: list[SimDevice], created: Iterable[tuple[str, str]]) -> list[str]:
    """Every check; the failures."""
    return [*server_errors(hub), *nothing_lost(hub, devices, created), *replicas_agree(hub, devices),
            *blobs_arrived(hub, devices), *billed_once(hub), *stock_balances(hub)]
