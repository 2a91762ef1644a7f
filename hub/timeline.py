"""A job's merged timeline, assembled from the hub's replica: plain functions, no Flask, so the
office API and the admin export tell the same story.

Events are ordered by the HLC of the op that made them (then node, counter): the one order every
replica agrees on, and on each device the order its technician did things in. Each event says
who made it (``by``: the node; ``device``: its name and technician, null for the hub) and when
(``at``: the HLC as an ISO instant). Records keep the business times the device recorded
(``device_time``, ``started_at``...) inside ``record``, uncorrected: the SLA engine corrects them
by the device's measured clock offset.
"""

from __future__ import annotations

from typing import Any

from sync.hlc import format_hlc, to_datetime
from sync.kinds.append import RecordRegister, effective_voids
from sync.kinds.status import replay
from sync.ops import OpId

from . import office_records
from .blobs import blob_state
from .scope import JOB_RECORDS
from .store import HubStore

# The kind of event each record type shows as (a check event says in or out itself).
RECORD_KINDS = {"time_log": "time_log", "part_usage": "part_usage", "checklist_step": "checklist_step",
                "attachment": "attachment", "signature": "signature", "ticket_comment": "comment"}
# Record fields naming a blob whose arrival at the hub the timeline reports.
BLOB_FIELDS = {"attachment": "sha256", "signature": "image_sha256"}


def _stamp(hlc: int, node: str, counter: int, authors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "at": to_datetime(hlc).isoformat(timespec="milliseconds"), "hlc": format_hlc(hlc), "op": f"{node}:{counter}",
        "by": node, "device": authors.get(node), "_order": (hlc, node, counter),
    }


def authors(store: HubStore) -> dict[str, dict[str, Any]]:
    """Enrolled devices by node id: their name and technician (the hub's own node is absent)."""
    return {node: {"name": name, "technician_id": technician_id} for node, name, technician_id in
            store.conn.execute("SELECT node, name, technician_id FROM devices")}


def status_events(store: HubStore, entity: str, eid: str, who: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every transition held, replayed: applied moves with from/to, skipped ones with the reason."""
    register = store.replica.register(entity, eid, "status")
    machine = office_records.status_machine(entity)
    if register is None or machine is None:
        return []
    _, applied = replay(machine, register.transitions)
    done = {step.op: step for step in applied}
    skipped = dict(register.skipped)
    events = []
    for transition in register.transitions:
        event = {**_stamp(transition.hlc, transition.node, transition.counter, who), "kind": "status"}
        step = done.get(transition.id)
        if step is not None:
            event.update({"from": step.source, "to": step.target})
        else:
            event.update({"to": transition.target, "skipped": True, "reason": skipped.get(transition.id, "")})
        events.append(event)
    return events


def assignment_event(store: HubStore, job_id: str, who: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The write that gave the job its current technician (earlier assignments were overwritten)."""
    register = store.replica.register("job", job_id, "technician_id")
    if register is None or not register.heads:
        return []
    write = register.heads[0]
    return [{**_stamp(write.hlc, write.node, write.counter, who), "kind": "assignment", "technician_id": write.value}]


def record_event(store: HubStore, entity: str, eid: str, who: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """One immutable record as an event; a voided record is shown, marked voided with the reason."""
    register: RecordRegister | None = store.replica.register(entity, eid, "")
    if register is None or register.record is None:
        return None
    record = register.record
    kind = RECORD_KINDS.get(entity) or f"check_{record.value.get('direction', 'event')}"
    event = {**_stamp(record.hlc, record.node, record.counter, who), "kind": kind, "entity": entity, "id": eid,
             "record": record.value, "voided": register.voided}
    if register.voided:
        effective = effective_voids(register.entries, register.voids)
        void = next(v for v in register.voids if v.id in effective and v.target == OpId(record.node, record.counter))
        event["void"] = {"op": f"{void.node}:{void.counter}", "reason": void.reason,
                         "at": to_datetime(void.hlc).isoformat(timespec="milliseconds"), "by": void.node}
    blob_field = BLOB_FIELDS.get(entity)
    if blob_field and isinstance(record.value.get(blob_field), str):
        state = blob_state(store, record.value[blob_field])
        event["blob"] = {"sha256": record.value[blob_field],
                         "status": "verified" if state and state["status"] == "verified" else "pending",
                         "received": state["received"] if state else 0,
                         "size": state["size"] if state else record.value.get("size")}
    return event


def _finish(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events.sort(key=lambda event: event["_order"])
    for event in events:
        del event["_order"]
    return events


def comments(store: HubStore, ticket_id: str, *, customer_only: bool = False) -> list[dict[str, Any]]:
    """A ticket's comments as events, oldest first. ``customer_only`` keeps what the customer may
    see: customer-visible comments that were not voided — never internal notes."""
    with store.reading():
        return _finish(_comment_events(store, ticket_id, authors(store), customer_only))


def _comment_events(store: HubStore, ticket_id: str, who: dict[str, dict[str, Any]],
                    customer_only: bool) -> list[dict[str, Any]]:
    found = []
    for _, eid in sorted(store.links.referrers("ticket_id", [ticket_id], ("ticket_comment",))):
        event = record_event(store, "ticket_comment", eid, who)
        if event is None:
            continue
        if customer_only and (event["voided"] or event["record"].get("visibility") != "customer"):
            continue
        found.append(event)
    return found


def job_timeline(store: HubStore, job_id: str) -> dict[str, Any] | None:
    """The job (merged view), its events in time order, and its conflicts; None if no such job.

    Conflicts are the job's own (concurrent edits, both values; transitions skipped) and those of
    its records (two records claiming one id).
    """
    with store.reading():
        job = office_records.view(store, "job", job_id)
        if job is None:
            return None
        who = authors(store)
        events = status_events(store, "job", job_id, who) + assignment_event(store, job_id, who)
        records = sorted(store.links.referrers("job_id", [job_id], JOB_RECORDS))
        conflicts = store.replica.conflicts("job", job_id)
        for entity, eid in records:
            event = record_event(store, entity, eid, who)
            if event is not None:
                events.append(event)
            conflicts.extend(store.replica.conflicts(entity, eid))
        if job["ticket_id"]:
            events.extend(_comment_events(store, job["ticket_id"], who, customer_only=False))
        return {"job": job, "events": _finish(events), "conflicts": conflicts}
