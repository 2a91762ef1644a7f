"""Office routes of the inventory: receive stock into a warehouse, send a parts kit to a van, and
read stock levels, the ledger, exceptions, purchase requests, reservations and the reconciliation.

Changes need ``service_management:manage``; reads ``service_management:read``. Quantities travel
as decimal strings. A van's stock is its devices' to spend (escrow): the office fills a van by
sending it a kit — the warehouse is deducted at dispatch, the van's terminal books the arrival.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, jsonify
from marshmallow import Schema, ValidationError, fields, validate

from schema.resources import MOVE_REASONS, fraction_refused
from sync.kinds.counter import to_decimal
from sync.ops import MOVE

from .. import office_records
from ..auth import current_store
from ..errors import ApiError
from ..office_http import MANAGE, READ, doc, json_object, listing, new_id, office_required, ok, paging, query
from ..store import HubStore
from . import inventory_report, inventory_state
from .inventory_moves import Writer, kit_out
from .inventory_reserve import holds

bp = Blueprint("inventory", __name__, url_prefix="/api/v1")


def _quantity(value: Decimal) -> None:
    try:
        to_decimal(format(value, "f"))
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if value <= 0:
        raise ValidationError("must be more than zero")


class StockLineSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 64))
    qty = fields.Decimal(required=True, as_string=True, validate=_quantity)


class StockReceiptSchema(Schema):
    location_id = fields.String(required=True, validate=validate.Length(1, 128))
    lines = fields.List(fields.Nested(StockLineSchema), required=True, validate=validate.Length(1, 500))
    note = fields.String(load_default="", validate=validate.Length(0, 400))


class KitDispatchSchema(Schema):
    from_location_id = fields.String(required=True, validate=validate.Length(1, 128))
    to_location_id = fields.String(required=True, validate=validate.Length(1, 128))
    job_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 128))
    lines = fields.List(fields.Nested(StockLineSchema), required=True, validate=validate.Length(1, 500))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 400))


def _location(store: HubStore, name: str, location_id: str, kind: str, hint: str) -> dict[str, Any]:
    found = office_records.view(store, "stock_location", location_id)
    if found is None:
        raise ApiError(400, "the request is not valid", [(name, f"no stock location {location_id!r}")],
                       hint="list them with GET /api/v1/stock_locations")
    if found["kind"] != kind:
        raise ApiError(400, "the request is not valid", [(name, f"{location_id} is a {found['kind']}, not a {kind}")],
                       hint=hint)
    return found


def _lines(store: HubStore, lines: list[dict[str, Any]]) -> list[tuple[str, Decimal]]:
    errors, seen = [], set()
    for index, line in enumerate(lines):
        item = office_records.view(store, "item", line["sku"])
        if line["sku"] in seen:
            errors.append((f"lines.{index}.sku", f"{line['sku']} is given twice; give each SKU once with its total"))
        elif item is None:
            errors.append((f"lines.{index}.sku", f"no item {line['sku']!r} in the catalogue"))
        elif why := fraction_refused(item, line["sku"], line["qty"]):
            errors.append((f"lines.{index}.qty", why))
        seen.add(line["sku"])
    if errors:
        raise ApiError(400, "the request is not valid", errors,
                       hint="add an item with POST /api/v1/items first; give items counted each in whole pieces")
    return [(line["sku"], line["qty"]) for line in lines]


def create_kit(store: HubStore, data: dict[str, Any], eid: str) -> tuple[dict[str, Any], list[str]]:
    """A parts kit made through the generic route (POST /api/v1/parts_kits), prepared."""
    record = office_records.validate("parts_kit", data)
    with store.unit_of_work():
        office_records.require_whole_pieces(store, record["lines"], "lines")
        return office_records.create(store, "parts_kit", eid, record), []


def require_kit_stock(store: HubStore, source: str, lines: list[tuple[str, Decimal]]) -> None:
    """A kit leaves only with what its warehouse holds; a 409 naming each line short of it."""
    short = []
    for index, (sku, amount) in enumerate(lines):
        held = inventory_state.qty(store.replica.entity("stock", inventory_state.stock_id(source, sku)).get("on_hand"))
        if held < amount:
            short.append((f"lines.{index}.qty", f"{source} holds {held} {sku}"))
    if short:
        raise ApiError(409, "the warehouse does not hold what the kit asks for", short,
                       hint="receive stock first (POST /api/v1/stock/receipts) or send less")


def check_kit_edit(store: HubStore, kit_id: str, changes: dict[str, Any]) -> None:
    """A kit's lines are fixed once it has left: its warehouse was deducted for them."""
    if "lines" not in changes:
        return
    office_records.require(store, "parts_kit", kit_id)  # a 404 for an id that names no kit
    office_records.require_whole_pieces(store, changes["lines"] or [], "lines")
    status = office_records.status_of(store, "parts_kit", kit_id)[0]
    if status != "prepared":
        raise ApiError(409, f"parts kit {kit_id} is {status}: its lines are fixed",
                       [("lines", "only a prepared kit's lines can change")],
                       hint="cancel it and send a new kit (POST /api/v1/stock/kits)")


def check_kit_move(store: HubStore, kit_id: str, target: str) -> None:
    """Dispatching a prepared kit through its status checks the warehouse as sending one does."""
    if target == "dispatched":
        kit = office_records.require(store, "parts_kit", kit_id)
        require_kit_stock(store, kit["from_location_id"],
                          [(line["sku"], inventory_state.qty(line["qty"])) for line in kit.get("lines") or []])


def _writer(store: HubStore) -> Writer:
    return Writer(lambda row_id: store.replica.entity("stock", row_id))


@bp.post("/stock/receipts")
@office_required(MANAGE)
@doc(tag="inventory", body=StockReceiptSchema, status=201)
def receive():
    """Receive stock into a warehouse: per line a 'receipt' move and on hand up by its quantity."""
    store = current_store()
    data = StockReceiptSchema().load(json_object())
    with store.unit_of_work():
        _location(store, "location_id", data["location_id"], "warehouse",
                  "a van is filled by a parts kit (POST /api/v1/stock/kits), its terminal books the arrival")
        lines = _lines(store, data["lines"])
        writer = _writer(store)
        receipt = new_id()
        moves = []
        for sku, amount in lines:
            move_id = new_id()
            record = writer.move(move_id, data["location_id"], sku, amount, "receipt", device_time=store.now_iso(),
                                 note=data["note"] or f"receipt {receipt}")
            moves.append({"id": move_id, **record})
        store.write(writer.changes)
        levels = inventory_report.stock_rows(inventory_state.read(store), data["location_id"])
    return ok({"receipt": receipt, "location_id": data["location_id"], "moves": moves, "stock": levels}, 201)


@bp.post("/stock/kits")
@office_required(MANAGE)
@doc(tag="inventory", body=KitDispatchSchema, status=201, response="PartsKit")
def send_kit():
    """Send a parts kit from a warehouse to a van: the warehouse is deducted at once ('kit_out'
    moves) and the kit is dispatched; the van's terminal books 'kit_in' when it receives it."""
    store = current_store()
    data = KitDispatchSchema().load(json_object())
    with store.unit_of_work():
        _location(store, "from_location_id", data["from_location_id"], "warehouse", "kits leave from a warehouse")
        _location(store, "to_location_id", data["to_location_id"], "van", "kits go to a van")
        if data["job_id"] is not None and office_records.view(store, "job", data["job_id"]) is None:
            raise ApiError(400, "the request is not valid", [("job_id", f"no job {data['job_id']!r}")])
        lines = _lines(store, data["lines"])
        require_kit_stock(store, data["from_location_id"], lines)
        record = office_records.validate("parts_kit", {
            "from_location_id": data["from_location_id"], "to_location_id": data["to_location_id"],
            "job_id": data["job_id"], "note": data["note"],
            "lines": [{"sku": sku, "qty": inventory_state.qty_text(amount)} for sku, amount in lines]})
        kit_id = new_id()
        writer = _writer(store)
        moves = kit_out(writer, kit_id, record, store.now_iso())
        store.write([*office_records.field_ops("parts_kit", kit_id, record),
                     ("parts_kit", kit_id, MOVE, "status", "dispatched"), *writer.changes])
        kit = office_records.require(store, "parts_kit", kit_id)
    return ok({**kit, "moves": moves}, 201)


STOCK_QUERY = {"location_id": fields.String(validate=validate.Length(1, 128)),
               "sku": fields.String(validate=validate.Length(1, 64))}


@bp.get("/stock")
@office_required(READ)
@doc(tag="inventory", query=["location_id", "sku", "after", "limit"])
def stock():
    """Stock per location and SKU: on hand, reserved and available (on hand less reserved)."""
    store = current_store()
    wanted = query(STOCK_QUERY)
    after, limit = paging()
    with store.reading():
        rows = inventory_report.stock_rows(inventory_state.read(store), wanted.get("location_id"), wanted.get("sku"))
    return listing([row for row in rows if row["id"] > after][:limit], limit)


def _records(entity: str, filters: dict[str, fields.Field], defaults: dict[str, Any]):
    store = current_store()
    wanted = {**defaults, **query(filters)}
    after, limit = paging()
    with store.reading():
        rows = office_records.select(store, entity, wanted, after=after, limit=limit)
    return listing(rows, limit)


REF = fields.String(validate=validate.Length(1, 128))


@bp.get("/stock/moves")
@office_required(READ)
@doc(tag="inventory", query=["location_id", "sku", "reason", "job_id", "kit_id", "voided", "after", "limit"],
     response=["StockMove"])
def moves():
    """The stock ledger: every movement (receipts, kits, usage, counts, returns), filterable."""
    return _records("stock_move", {**STOCK_QUERY, "reason": fields.String(validate=validate.OneOf(MOVE_REASONS)),
                                   "job_id": REF, "kit_id": REF, "voided": fields.Boolean()}, {})


@bp.get("/stock/exceptions")
@office_required(READ)
@doc(tag="inventory", query=["location_id", "sku", "reason", "job_id", "part_usage_id", "voided", "after", "limit"],
     response=["StockException"])
def exceptions():
    """Stock exceptions: a location ran short (negative_stock) or parts came from another
    location (other_location). Withdrawn (voided) ones only with ?voided=true."""
    return _records("stock_exception", {
        **STOCK_QUERY, "reason": fields.String(validate=validate.OneOf(("negative_stock", "other_location"))),
        "job_id": REF, "part_usage_id": REF, "voided": fields.Boolean()}, {"voided": False})


@bp.get("/purchase_requests")
@office_required(READ)
@doc(tag="inventory", query=["status", "location_id", "sku", "withdrawn", "after", "limit"],
     response=["PurchaseRequest"])
def purchase_requests():
    """Purchase requests raised by stock exceptions; withdrawn ones only with ?withdrawn=true."""
    return _records("purchase_request", {**STOCK_QUERY,
                                         "status": office_records.filterable("purchase_request", "status"),
                                         "withdrawn": fields.Boolean()}, {"withdrawn": False})


@bp.get("/purchase_requests/<eid>")
@office_required(READ)
@doc(tag="inventory", response="PurchaseRequest")
def purchase_request(eid: str):
    """One purchase request."""
    store = current_store()
    with store.reading():
        return ok(office_records.require(store, "purchase_request", eid))


class PurchaseRequestStatusSchema(Schema):
    status = fields.String(required=True, validate=validate.Length(1, 40))


@bp.post("/purchase_requests/<eid>/status")
@office_required(MANAGE)
@doc(tag="inventory", body=PurchaseRequestStatusSchema, response="PurchaseRequest")
def move_purchase_request(eid: str):
    """Move a purchase request: open -> ordered -> received, or cancelled (409 if not allowed)."""
    store = current_store()
    target = PurchaseRequestStatusSchema().load(json_object())["status"]
    return ok(office_records.move(store, "purchase_request", eid, target))


@bp.get("/stock/reservations")
@office_required(READ)
@doc(tag="inventory", query=["work_order_id", "location_id", "sku", "state", "after", "limit"])
def reservations():
    """Each work order's parts estimate and where it is held (held, released or unplaced)."""
    store = current_store()
    wanted = query({**STOCK_QUERY, "work_order_id": REF,
                    "state": fields.String(validate=validate.OneOf(("held", "released", "unplaced")))})
    after, limit = paging()
    with store.reading():
        found = holds(inventory_state.read(store))
    rows = [{"id": f"{hold.work_order_id}:{hold.sku}", **hold.to_json()} for hold in found]
    rows = [row for row in rows if row["id"] > after and all(row[name] == value for name, value in wanted.items())]
    return listing(rows[:limit], limit)


@bp.get("/stock/reconciliation")
@office_required(READ)
@doc(tag="inventory", query=["location_id", "sku", "balanced", "after", "limit"])
def reconciliation():
    """Per location and SKU: the on_hand counter against the ledger (plus the opening balance),
    differences flagged with the movements that explain them; kits in transit or received short."""
    store = current_store()
    wanted = query({**STOCK_QUERY, "balanced": fields.Boolean()})
    after, limit = paging()
    with store.reading():
        rows = inventory_report.reconciliation(store, inventory_state.read(store), wanted.get("location_id"),
                                               wanted.get("sku"))
    rows = [row for row in rows if row["id"] > after and wanted.get("balanced", row["balanced"]) == row["balanced"]]
    page = rows[:limit]
    return jsonify({"ok": True, "data": page, "count": len(page), "flagged": sum(not row["balanced"] for row in rows),
                    "next": page[-1]["id"] if len(rows) > limit else None})
