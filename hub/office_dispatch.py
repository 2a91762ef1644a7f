"""Dispatch: a job (service trip) for a work order, assigned to a technician and a van.

Assigning is what puts a job in a technician's scope: the tablet receives the job with its
history at its next sync, and a job reassigned away stops flowing to the old tablet. Dispatching
releases the work order and marks the ticket assigned, when their state allows it. A technician
without the skills the work order asks for is still assignable — the dispatcher may know better —
but the reply says what is missing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields, validate

from . import office_records, timeline
from .auth import current_store
from .errors import ApiError
from .office_http import ASSIGN, READ, doc, json_object, office_required, ok
from .store import HubStore

bp = Blueprint("office_dispatch", __name__, url_prefix="/api/v1")

FINAL_JOB = ("completed", "cancelled")


def _technician(store: HubStore, technician_id: Any) -> dict[str, Any] | None:
    if not isinstance(technician_id, str):
        return None
    office_records.check_references(store, {"technician_id": technician_id})
    technician = office_records.require(store, "technician", technician_id)
    if technician["active"] is False:
        raise ApiError(409, f"technician {technician_id} is not active", [("technician_id", "inactive technician")],
                       hint="choose an active technician")
    return technician


def _skill_warnings(store: HubStore, work_order_id: str, technician: dict[str, Any] | None) -> list[str]:
    order = office_records.view(store, "work_order", work_order_id)
    if technician is None or order is None:
        return []
    missing = sorted(set(order["required_skills"]) - set(technician["skills"]))
    return [f"{technician['name']} lacks required skills: {', '.join(missing)}"] if missing else []


def _follow_on_moves(store: HubStore, moves: list[tuple[str, str, str]]) -> list[tuple[Any, ...]]:
    """Status moves that dispatching implies, kept only where the current state allows them."""
    ops = []
    for entity, eid, target in moves:
        if eid and target in office_records.allowed_moves(store, entity, eid):
            ops.append(office_records.move_op(store, entity, eid, target))
    return ops


def dispatch(store: HubStore, data: dict[str, Any], eid: str) -> tuple[dict[str, Any], list[str]]:
    """Create a job for a work order; the technician's van is used unless ``van_id`` is given."""
    with store.unit_of_work():
        order_id = data.get("work_order_id")
        order = office_records.view(store, "work_order", order_id) if isinstance(order_id, str) else None
        if order is None and isinstance(order_id, str):
            # Named before the job is validated: without its work order the job lacks a ticket
            # too, and that would be reported instead of the id that is wrong.
            office_records.check_references(store, {"work_order_id": order_id})
        if order is not None:
            if data.get("ticket_id", order["ticket_id"]) != order["ticket_id"]:
                raise ApiError(400, "the request is not valid",
                               [("ticket_id", f"work order {order_id} is for ticket {order['ticket_id']}")])
            data = {**data, "ticket_id": order["ticket_id"]}
        technician = _technician(store, data.get("technician_id"))
        if technician is not None and "van_id" not in data:
            data = {**data, "van_id": technician["van_id"]}
        record = office_records.validate("job", data)
        if order is not None and order["status"] in ("completed", "cancelled"):
            raise ApiError(409, f"work order {order_id} is {order['status']}", [("work_order_id", "final")],
                           hint="open a new work order for further work")
        moves = [("work_order", record["work_order_id"], "released")]
        if technician is not None:
            moves.append(("ticket", record["ticket_id"], "assigned"))
        created = office_records.create(store, "job", eid, record, _follow_on_moves(store, moves))
        return created, _skill_warnings(store, record["work_order_id"], technician)


class AssignSchema(Schema):
    technician_id = fields.String(required=True, validate=validate.Length(1, 128))
    van_id = fields.String(allow_none=True, validate=validate.Length(1, 128))


def assign(store: HubStore, job_id: str, technician_id: str, van_id: Any = ...) -> tuple[dict[str, Any], list[str]]:
    """(Re)assign a job that is not final; the technician's own van unless one is named."""
    with store.unit_of_work():
        job = office_records.require(store, "job", job_id)
        _refuse_final(job)
        technician = _technician(store, technician_id)
        assert technician is not None
        changes = {"technician_id": technician_id, "van_id": technician["van_id"] if van_id is ... else van_id}
        warnings = _skill_warnings(store, job["work_order_id"], technician)
        if job["technician_id"] and job["technician_id"] != technician_id and job["status"] != "scheduled":
            warnings.append(f"the job was {job['status']} with {job['technician_id']}; tell them it moved")
        moved = office_records.update(store, "job", job_id, changes,
                                      _follow_on_moves(store, [("ticket", job["ticket_id"], "assigned")]))
        return moved, warnings


def unassign(store: HubStore, job_id: str) -> dict[str, Any]:
    """Take a job that is not final off its technician, van and crew; it leaves their scope."""
    with store.unit_of_work():
        _refuse_final(office_records.require(store, "job", job_id))
        return office_records.update(store, "job", job_id, {"technician_id": None, "van_id": None, "crew_ids": []})


def _refuse_final(job: dict[str, Any]) -> None:
    if job["status"] in FINAL_JOB:
        raise ApiError(409, f"job {job['id']} is {job['status']}", [("status", "a final job is not reassigned")],
                       hint="dispatch a new job for the work order")


@bp.post("/jobs/<eid>/assign")
@office_required(ASSIGN)
@doc(tag="job", body=AssignSchema, response="Job")
def assign_job(eid: str):
    """Assign (or reassign) a job to a technician and van."""
    data = AssignSchema().load(json_object())
    moved, warnings = assign(current_store(), eid, data["technician_id"], data.get("van_id", ...))
    return ok(moved, warnings=warnings)


@bp.post("/jobs/<eid>/unassign")
@office_required(ASSIGN)
@doc(tag="job", response="Job")
def unassign_job(eid: str):
    """Take a job off its technician, van and crew."""
    return ok(unassign(current_store(), eid))


@bp.get("/jobs/<eid>/timeline")
@office_required(READ)
@doc(tag="job")
def job_timeline(eid: str):
    """The job's merged history: status moves, check-ins, time, parts, checklist, photos,
    signature and comments in time order, voided records marked, and the job's conflicts."""
    store = current_store()
    with store.reading():
        office_records.require(store, "job", eid)
        return ok(timeline.job_timeline(store, eid))
