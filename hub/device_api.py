"""Device enrolment: a one-time code traded for a node id and a token."""

from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, fields, validate

from sync.protocol import PROTOCOL_VERSION

from . import auth
from .auth import current_store
from .errors import json_object

bp = Blueprint("device_api", __name__, url_prefix="/api/v1")


class EnrolSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(1, 40))
    device_name = fields.String(load_default=None, validate=validate.Length(1, 120))
    agent_version = fields.String(load_default=None, validate=validate.Length(max=40))


@bp.post("/enrol")
def enrol():
    data = json_object()
    data = EnrolSchema().load(data)
    store = current_store()
    device, token = auth.enrol(store, data["code"], data["device_name"], data["agent_version"])
    return jsonify({
        "ok": True, "node": device.node, "token": token, "name": device.name, "kind": device.kind,
        "technician_id": device.technician_id, "van_id": device.van_id, "hub_node": store.replica.node,
        "hub_now_ms": store.now_ms(), "protocol": PROTOCOL_VERSION,
    }), 201
