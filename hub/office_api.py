"""The office API (``/api/v1``): what dispatchers and managers use to run the business.

Every record type is a resource with the same routes — list (with filters), read one, create,
edit the fields given (PATCH), and move its status through ``POST .../status`` — under the seeds'
permissions: master data, SLA policies and contracts need ``manage``; tickets and work orders
``write``; dispatching jobs ``assign``; reading ``read``. Tickets, work orders and jobs have their
own create rules (``office_tickets``, ``office_dispatch``). Edits become hub-authored ops, so they
reach the devices whose scope holds the record at their next sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, request
from marshmallow import Schema, fields, validate

from schema.resources import ItemSchema

from . import office_dispatch, office_portal, office_records, office_tickets, openapi
from .auth import current_store
from .billing import currency_problem, snapshot
from .billing.money import ZERO, amount_of, decimal
from .device_time import parse_instant
from .engines import inventory_api
from .errors import ApiError
from .office_http import (
    ASSIGN,
    MANAGE,
    READ,
    WRITE,
    doc,
    json_object,
    listing,
    new_id,
    office_required,
    ok,
    paging,
    query,
)
from .store import HubStore

bp = Blueprint("office", __name__, url_prefix="/api/v1")

# A resource's create: (store, body, a fresh id) -> (the new record's view, warnings for the caller).
Creator = Callable[[HubStore, dict[str, Any], str], tuple[dict[str, Any], list[str]]]
# A check of an edit beyond its fields' own validity: (store, id, changes in wire form); raises ApiError.
EditCheck = Callable[[HubStore, str, dict[str, Any]], None]
# A check of a status move beyond the state machine's: (store, id, target state); raises ApiError.
MoveCheck = Callable[[HubStore, str, str], None]


@dataclass(frozen=True)
class Resource:
    entity: str
    path: str
    edit: str  # the permission to create, edit and move the status
    create: Creator | None = None  # None: validate with the schema and write, nothing more
    fixed: frozenset[str] = frozenset()  # fields set at creation that PATCH may not change
    fixed_hint: str = ""
    check_edit: EditCheck | None = None
    create_body: type[Schema] | None = None  # what POST takes, when it is not just the entity's schema
    check_move: MoveCheck | None = None


class SkuSchema(Schema):
    sku = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                                                                error="1-64 letters, digits, '.', '_' or '-'"))


class NewItemSchema(SkuSchema, ItemSchema):
    """An item as created: the SKU that names it, and its fields."""


def create_item(store: HubStore, data: dict[str, Any], _eid: str) -> tuple[dict[str, Any], list[str]]:
    """A catalogue item is named by its SKU (``sku`` in the body), not by a generated id."""
    data = dict(data)
    sku = SkuSchema().load({"sku": data.pop("sku", None)})["sku"]
    record = office_records.validate("item", data)
    return office_records.create(store, "item", sku, record), []


def create_asset(store: HubStore, data: dict[str, Any], eid: str) -> tuple[dict[str, Any], list[str]]:
    """An asset stands on a site of its own customer (as a ticket's site and asset must be)."""
    record = office_records.validate("asset", data)
    with store.unit_of_work():
        office_records.check_references(store, {"customer_id": record["customer_id"]})
        _asset_site_check(store, record["customer_id"], record)
        return office_records.create(store, "asset", eid, record), []


def check_asset_edit(store: HubStore, eid: str, changes: dict[str, Any]) -> None:
    if "site_id" in changes:
        _asset_site_check(store, office_records.require(store, "asset", eid)["customer_id"], changes)


def _asset_site_check(store: HubStore, customer_id: str, record: dict[str, Any]) -> None:
    errors = office_tickets.ownership_errors(store, customer_id, {"site_id": record.get("site_id")})
    if errors:
        raise ApiError(400, "the asset names a site of another customer", errors,
                       hint=f"give a site of customer {customer_id} (GET /api/v1/sites?customer_id={customer_id})")


# What a contract of each type bills by: without it an active contract would never invoice.
BILLED_BY = {"fixed_fee": (("billing", "fixed_fee"), ("billing", "job_type_fees")),
             "time_material": (("rates", "labour_rate"),), "retainer": (("billing", "retainer_fee"),)}


def check_contract_edit(store: HubStore, eid: str, changes: dict[str, Any]) -> None:
    contract = {**office_records.require(store, "contract", eid), **changes}
    if changes.keys() & {"starts_at", "ends_at"}:
        _contract_dates(contract)
    if changes.keys() & {"currency", "type"}:
        _contract_currency(store, contract)
    if "value" in changes:
        _milestones_within_value(store, contract, {}, "value")
    if changes.get("type", "milestone") != "milestone" and store.links.sources("milestone", "contract_id", [eid]):
        raise ApiError(409, f"contract {eid} has milestones: it stays a milestone contract",
                       [("type", "its milestones would never be invoiced")],
                       hint="make a new contract of the other type for the work that follows")


def create_contract(store: HubStore, data: dict[str, Any], eid: str) -> tuple[dict[str, Any], list[str]]:
    record = office_records.validate("contract", data)
    _contract_dates(record)
    _contract_currency(store, record)
    return office_records.create(store, "contract", eid, record), []


def _contract_currency(store: HubStore, contract: dict[str, Any]) -> None:
    issued = snapshot.issued_currencies(store, contract["id"]) if "id" in contract else set()
    problem = currency_problem(contract, store.config.price_list_currency, issued)
    if problem:
        raise ApiError(400, "the contract cannot bill in this currency", [("currency", problem)],
                       hint="keep the currency named in the reason")


def _contract_dates(contract: dict[str, Any]) -> None:
    starts, ends = (parse_instant(contract.get(name)) for name in ("starts_at", "ends_at"))
    if starts is not None and ends is not None and ends <= starts:
        raise ApiError(400, "the contract ends before it starts", [("ends_at", "must be after starts_at")])


def create_milestone(store: HubStore, data: dict[str, Any], eid: str) -> tuple[dict[str, Any], list[str]]:
    record = office_records.validate("milestone", data)
    with store.unit_of_work():
        office_records.check_references(store, {"contract_id": record["contract_id"]})
        contract = office_records.require(store, "contract", record["contract_id"])
        if contract.get("type") != "milestone":
            # Only a milestone contract bills by milestone: on another it would never be invoiced.
            raise ApiError(409, f"contract {contract['id']} bills {contract.get('type')}, not by milestone",
                           [("contract_id", "milestones belong to a milestone contract")],
                           hint="add the milestone to the project's milestone contract")
        _milestones_within_value(store, contract, {eid: record["amount"]}, "amount")
        return office_records.create(store, "milestone", eid, record), []


def check_milestone_edit(store: HubStore, eid: str, changes: dict[str, Any]) -> None:
    if "amount" in changes:
        milestone = office_records.require(store, "milestone", eid)
        contract = office_records.require(store, "contract", milestone["contract_id"])
        _milestones_within_value(store, contract, {eid: changes["amount"]}, "amount")


def _milestones_within_value(store: HubStore, contract: dict[str, Any], amounts: dict[str, Any], field: str) -> None:
    """A project's milestones are stages of its agreed value: together they never exceed it (a
    contract with no value set is not limited). ``amounts`` replace or add milestones' amounts;
    ``field`` is the one the caller changed, named in the refusal."""
    value = decimal(contract.get("value"))
    if value is None:
        return
    held = (office_records.view(store, "milestone", mid)
            for mid in store.links.sources("milestone", "contract_id", [contract["id"]]))
    amounts = {**{m["id"]: m["amount"] for m in held if m is not None}, **amounts}
    total = sum((amount_of(amount) for amount in amounts.values()), ZERO)
    if total <= value:
        return
    currency = contract.get("currency") or ""
    if field == "value":
        reason = f"{value} {currency} is below the total of its {len(amounts)} milestones, {total} {currency}"
        hint = "lower the milestones' amounts first (PATCH /api/v1/milestones/<id>), or keep the value"
    else:
        reason = f"the contract's milestones would total {total} {currency}, above its value {value} {currency}"
        hint = f"lower the amount, or raise the contract's value (PATCH /api/v1/contracts/{contract['id']})"
    raise ApiError(400, "the milestones would add up to more than the contract's value", [(field, reason)], hint=hint)


def check_contract_move(store: HubStore, eid: str, target: str) -> None:
    """A contract goes active only with the terms its type bills by."""
    if target != "active":
        return
    contract = office_records.require(store, "contract", eid)
    terms = BILLED_BY.get(contract["type"])
    if terms and not any((contract.get(group) or {}).get(name) is not None for group, name in terms):
        named = [f"{group}.{name}" for group, name in terms]
        raise ApiError(409, f"a {contract['type']} contract needs {' or '.join(named)} before it is active",
                       [(named[0], f"required for a {contract['type']} contract")],
                       hint=f"set it with PATCH /api/v1/contracts/{eid}, then activate the contract")


RESOURCES = (
    Resource("customer", "customers", MANAGE),
    Resource("contact", "contacts", MANAGE, fixed=frozenset({"customer_id"})),
    Resource("site", "sites", MANAGE, fixed=frozenset({"customer_id"})),
    Resource("asset", "assets", MANAGE, create_asset, fixed=frozenset({"customer_id"}), check_edit=check_asset_edit),
    Resource("sla_policy", "sla_policies", MANAGE),
    Resource("contract", "contracts", MANAGE, create_contract, fixed=frozenset({"customer_id"}),
             check_edit=check_contract_edit, check_move=check_contract_move),
    Resource("milestone", "milestones", MANAGE, create_milestone, fixed=frozenset({"contract_id"}),
             check_edit=check_milestone_edit),
    Resource("ticket", "tickets", WRITE, office_tickets.create_ticket, frozenset({"customer_id", "opened_at"}),
             check_edit=office_tickets.check_edit),
    Resource("work_order", "work_orders", WRITE, office_tickets.create_work_order, frozenset({"ticket_id"}),
             check_edit=office_tickets.check_work_order_edit),
    Resource("job", "jobs", ASSIGN, office_dispatch.dispatch,
             frozenset({"work_order_id", "ticket_id", "technician_id", "van_id"}),
             "assign with POST /api/v1/jobs/<id>/assign, or /unassign"),
    Resource("technician", "technicians", MANAGE),
    Resource("stock_location", "stock_locations", MANAGE, fixed=frozenset({"kind"})),
    Resource("item", "items", MANAGE, create_item, create_body=NewItemSchema),
    Resource("checklist_template", "checklist_templates", MANAGE),
    Resource("parts_kit", "parts_kits", MANAGE, inventory_api.create_kit,
             fixed=frozenset({"from_location_id", "to_location_id"}),
             check_edit=inventory_api.check_kit_edit, check_move=inventory_api.check_kit_move),
)


def _add_resource(resource: Resource) -> None:
    entity, base = resource.entity, f"/{resource.path}"
    noun = entity.replace("_", " ")
    filters = {name: spec for name in office_records.schema_of(entity).fields
               if (spec := office_records.filterable(entity, name)) is not None}

    def list_records():
        store = current_store()
        wanted = query(filters)
        after, limit = paging()
        with store.reading():
            rows = office_records.select(store, entity, wanted, after=after, limit=limit)
        return listing(rows, limit)

    def create_record():
        store = current_store()
        data = json_object()
        eid = new_id()
        if resource.create is None:
            created = office_records.create(store, entity, eid, office_records.validate(entity, data))
            warnings: list[str] = []
        else:
            created, warnings = resource.create(store, data, eid)
        response, status = ok(created, 201, warnings=warnings)
        response.headers["Location"] = f"{request.path}/{created['id']}"
        return response, status

    def read_record(eid: str):
        store = current_store()
        with store.reading():
            found = office_records.require(store, entity, eid)
            conflicts = store.replica.conflicts(entity, eid)
        return ok(found, conflicts=conflicts)

    def edit_record(eid: str):
        store = current_store()
        data = json_object()
        try:
            changes = office_records.validate(entity, data, partial=True, fixed=resource.fixed)
        except ApiError as exc:
            exc.hint = resource.fixed_hint or exc.hint
            raise
        with store.unit_of_work():
            if resource.check_edit is not None:
                resource.check_edit(store, eid, changes)
            return ok(office_records.update(store, entity, eid, changes))

    schema_name = openapi.component_name(entity)
    routes = [
        (base, "GET", f"list_{resource.path}", list_records, READ,
         {"summary": f"List {noun} records, filtered", "query": [*sorted(filters), "after", "limit"],
          "response": [schema_name]}),
        (base, "POST", f"create_{entity}", create_record, resource.edit,
         {"summary": f"Create a {noun}", "body": resource.create_body or schema_name, "response": schema_name,
          "status": 201}),
        (f"{base}/<eid>", "GET", f"read_{entity}", read_record, READ,
         {"summary": f"Read one {noun} (merged view, with its conflicts)", "response": schema_name}),
        (f"{base}/<eid>", "PATCH", f"edit_{entity}", edit_record, resource.edit,
         {"summary": f"Edit the fields given of a {noun}", "body": schema_name, "partial": True,
          "response": schema_name}),
    ]
    if office_records.status_machine(entity) is not None:
        def move_status(eid: str):
            store = current_store()
            target = StatusSchema().load(json_object())["status"]
            with store.unit_of_work():
                if resource.check_move is not None:
                    resource.check_move(store, eid, target)
                return ok(office_records.move(store, entity, eid, target))

        routes.append((f"{base}/<eid>/status", "POST", f"move_{entity}", move_status, resource.edit,
                       {"summary": f"Move a {noun} to another status (409 if not allowed from the current one)",
                        "body": StatusSchema, "response": schema_name}))
    for rule, method, endpoint, view, permission, notes in routes:
        view.__name__ = endpoint
        bp.add_url_rule(rule, endpoint, office_required(permission)(doc(tag=noun, **notes)(view)), methods=[method])


class StatusSchema(Schema):
    status = fields.String(required=True, validate=validate.Length(1, 40))


for _resource in RESOURCES:
    _add_resource(_resource)


class ConflictQuery(Schema):
    entity = fields.String()
    eid = fields.String()


@bp.get("/conflicts")
@office_required(READ)
@doc(tag="conflicts", query=["entity", "eid"])
def conflicts():
    """Every conflict kept: concurrent writes overwritten (both values) and transitions skipped."""
    store = current_store()
    wanted = query(ConflictQuery().fields, paged=False)
    if "eid" in wanted and "entity" not in wanted:
        raise ApiError(400, "bad query parameters", [("eid", "give entity too")])
    with store.reading():
        found = store.replica.conflicts(wanted.get("entity"), wanted.get("eid"))
    return ok(found, count=len(found))


@bp.get("/quarantine")
@office_required(MANAGE)
@doc(tag="conflicts")
def quarantine():
    """Ops refused by a rule (invalid, out of scope, clock too far ahead), each with its reason."""
    store = current_store()
    with store.reading():
        found = store.replica.quarantined()
    return ok(found, count=len(found))


def init_app(app: Flask) -> None:
    """Register the office API, the portal and the OpenAPI description on ``app``."""
    app.extensions["fieldsync.ids"] = office_records.IdFactory()
    app.register_blueprint(bp)
    app.register_blueprint(office_tickets.bp)
    app.register_blueprint(office_dispatch.bp)
    app.register_blueprint(office_portal.bp)
    app.register_blueprint(openapi.bp)
