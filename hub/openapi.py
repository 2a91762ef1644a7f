"""``GET /api/v1/openapi.json``: an OpenAPI 3 description of every route the hub serves.

Built with apispec from the app's URL map when first asked, so a route added anywhere in the hub
is described without being listed here; the request and response shapes come from the marshmallow
schemas in ``schema/`` (each entity field carries its merge kind as ``x-merge``) and from notes the
views carry (``office_http.doc``). Routes of the sync, enrolment and blob modules carry no notes of
their own, so :data:`NOTES` holds theirs. Every error answers with the ``Error`` component.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import Schema, fields
from werkzeug.routing import Rule

from schema import SCHEMAS

from .device_api import EnrolSchema
from .sync_api import HelloSchema, PullSchema, PushSchema

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

OPENAPI_VERSION = "3.0.3"
METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


class ErrorItemSchema(Schema):
    field = fields.String(required=True, metadata={"description": "the field (dotted path) that is wrong"})
    reason = fields.String(required=True, metadata={"description": "what is wrong with it, for a person"})


class ErrorSchema(Schema):
    """The one error body of the hub, whatever the route and the status."""

    ok = fields.Boolean(required=True, metadata={"enum": [False]})
    error = fields.String(required=True, metadata={"description": "what failed"})
    errors = fields.List(fields.Nested(ErrorItemSchema), required=True)
    status = fields.Integer(required=True, metadata={"description": "the HTTP status, repeated"})
    hint = fields.String(metadata={"description": "what to do next"})


# Notes for routes whose modules do not annotate their views: auth is "device", "none" or a
# user permission; body a schema; response "binary" for raw bytes.
NOTES: dict[str, dict[str, Any]] = {
    "health": {"auth": "none", "tag": "hub", "summary": "Liveness: the hub's node, version and clock"},
    "device_api.enrol": {"auth": "none", "tag": "devices", "body": EnrolSchema, "status": 201,
                         "summary": "Trade a one-time enrolment code for a node id and a device token (shown once)"},
    "sync_api.hello": {"auth": "device", "tag": "sync", "body": HelloSchema},
    "sync_api.push": {"auth": "device", "tag": "sync", "body": PushSchema},
    "sync_api.pull": {"auth": "device", "tag": "sync", "body": PullSchema},
    "blobs.status": {"auth": "device", "tag": "blobs", "summary": "How many bytes of a blob the hub holds"},
    "blobs.upload": {"auth": "device", "tag": "blobs", "body": "binary", "query": ["offset", "size"],
                     "summary": "Append the next chunk of a blob at ?offset= (of ?size= bytes in all)"},
    "blobs.content": {"auth": "service_management:read", "tag": "blobs", "response": "binary",
                      "summary": "The bytes of a verified blob"},
    "openapi.openapi_json": {"auth": "none", "tag": "hub"},
}


def component_name(entity: str) -> str:
    """The component an entity's schema is published as: ``sla_policy`` -> ``SlaPolicy``."""
    return SCHEMAS[entity].__name__.removesuffix("Schema")


@bp.get("/openapi.json")
def openapi_json():
    """This description of the hub's API (OpenAPI 3)."""
    described = current_app.extensions.get("fieldsync.openapi")
    if described is None:
        described = current_app.extensions["fieldsync.openapi"] = build(current_app)
    return jsonify(described)


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for every route of ``app`` (static files excepted)."""
    from .app import VERSION  # the app module imports this one

    marshmallow = MarshmallowPlugin()
    spec = APISpec("FieldSync hub", VERSION, OPENAPI_VERSION, plugins=[marshmallow], info={
        "description": "Offline-first sync for field-service work: the devices' sync API and the office API. "
                       "Every error answers with the Error schema."})
    # Money and quantities travel as decimal strings ("12.50"), never as JSON numbers.
    marshmallow.map_to_openapi_type(fields.Decimal, "string", "decimal")
    spec.components.security_scheme("user", {"type": "http", "scheme": "bearer",
                                              "description": "an office or portal user's token"})
    spec.components.security_scheme("device", {"type": "http", "scheme": "bearer",
                                                "description": "an enrolled device's token"})
    spec.components.schema("Error", schema=ErrorSchema)
    for entity, schema_class in SCHEMAS.items():
        spec.components.schema(component_name(entity), schema=schema_class)
        if not schema_class.append_only:
            spec.components.schema(f"{component_name(entity)}Edit", schema=schema_class(partial=True))
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint == "static":
            continue
        path, params = _path(rule)
        methods = [method for method in METHODS if method.upper() in (rule.methods or ())]
        operations = {method: _operation(app, rule, method, params, len(methods) > 1) for method in methods}
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    _mark_merge_kinds(document["components"]["schemas"])
    return document



def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    params = [{"name": name, "in": "path", "required": True,
               "schema": {"type": "integer" if converter == "int" else "string"}}
              for converter, name in _PARAM.findall(rule.rule)]
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule.rule), params


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(app: Flask, rule: Rule, method: str, params: list[dict[str, Any]], shared: bool) -> dict[str, Any]:
    view = app.view_functions[rule.endpoint]
    notes = {**NOTES.get(rule.endpoint, {}), **getattr(view, "openapi", {})}
    lines = (view.__doc__ or "").strip().splitlines()
    auth = notes.get("auth") or notes.get("permission")
    operation: dict[str, Any] = {
        "operationId": f"{rule.endpoint}.{method}" if shared else rule.endpoint,
        "summary": notes.get("summary") or (lines[0] if lines else rule.endpoint),
        "tags": [notes.get("tag") or rule.endpoint.partition(".")[0]],
        "parameters": params + [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                                for name in notes.get("query", ())],
    }
    if len(lines) > 1:
        operation["description"] = " ".join(line.strip() for line in lines)
    if auth == "device":
        operation["security"] = [{"device": []}]
    elif auth == "none":
        operation["security"] = []
    elif auth:
        operation["security"] = [{"user": []}]
        operation["x-permission"] = auth
        if notes.get("portal"):
            operation["x-portal"] = True
    body = notes.get("body")
    if body == "binary":
        operation["requestBody"] = {"required": True, "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    elif isinstance(body, str):
        operation["requestBody"] = {"required": True, "content": _json(_ref(f"{body}Edit" if notes.get("partial")
                                                                            else body))}
    elif body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    operation["responses"] = {str(notes.get("status", 200)): _success(notes.get("response")), **_errors(operation)}
    return operation


def _success(response: Any) -> dict[str, Any]:
    if response == "binary":
        return {"description": "the bytes", "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    if isinstance(response, list):
        data: dict[str, Any] = {"type": "array", "items": _with_id(response[0])}
        envelope = {"ok": {"type": "boolean"}, "data": data, "count": {"type": "integer"},
                    "next": {"type": "string", "nullable": True}}
    elif isinstance(response, str):
        envelope = {"ok": {"type": "boolean"}, "data": _with_id(response),
                    "warnings": {"type": "array", "items": {"type": "string"}}}
    else:
        envelope = {"ok": {"type": "boolean"}}
    return {"description": "done", "content": _json({"type": "object", "properties": envelope})}


def _with_id(name: str) -> dict[str, Any]:
    return {"allOf": [_ref(name), {"type": "object", "properties": {"id": {"type": "string"}}}]}


def _errors(operation: dict[str, Any]) -> dict[str, Any]:
    wanted = {"400": "bad input: each wrong field is named with the reason"}
    if operation.get("security"):
        wanted["401"] = "no token, or a token that is unknown or revoked"
        wanted["403"] = "the token does not allow this"
    if any(p["in"] == "path" for p in operation["parameters"]):
        wanted["404"] = "no such record"
    wanted["409"] = "the request conflicts with the current state (the reason says which)"
    wanted["default"] = "any other error, in the same shape"
    return {status: {"description": text, "content": _json(_ref("Error"))} for status, text in wanted.items()}


def _mark_merge_kinds(components: dict[str, Any]) -> None:
    """Publish each entity field's merge kind (``x-merge``) beside its type."""
    for entity, schema_class in SCHEMAS.items():
        described = components[component_name(entity)]
        if schema_class.append_only:
            described["x-append-only"] = True
            continue
        for name, spec in schema_class._declared_fields.items():
            described["properties"][name]["x-merge"] = spec.metadata["merge"]
