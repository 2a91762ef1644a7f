"""Who may do what: device enrolment and tokens, office users and their permissions.

Tokens and enrolment codes are stored hashed (SHA-256): a copy of the database does not let
anyone in. A revoked device or user is refused at its next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import current_app, g, request

from .errors import ApiError
from .store import HubStore

PERMISSIONS = tuple(
    f"service_management:{name}" for name in ("read", "write", "assign", "billing", "manage", "report")
)
DEVICE_KINDS = ("technician", "van")
# A user's name is how an administrator finds and revokes it: typed in a shell, shown in lists.
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Unambiguous when read aloud or typed on a tablet: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def normalise_code(code: str) -> str:
    return code.strip().upper().replace(" ", "")


@dataclass
class Device:
    node: str
    name: str
    kind: str
    technician_id: str | None
    van_id: str | None
    revoked_at: str | None
    clock_offset_ms: int | None
    acked_cursor: int
    acked_scope: str | None
    offered_cursor: int | None
    offered_scope: str | None
    offer_id: int  # the id of the last pull reply offered; the device's next pull echoes it once committed

    COLUMNS = ("node, name, kind, technician_id, van_id, revoked_at, clock_offset_ms, acked_cursor, acked_scope, "
               "offered_cursor, offered_scope, offer_id")


def create_enrolment_code(store: HubStore, kind: str, subject_id: str, name: str) -> str:
    """A one-time code that lets one device enrol as ``kind`` (technician or van) for ``subject_id``."""
    if kind not in DEVICE_KINDS:
        raise ApiError(400, "unknown device kind", [("kind", f"must be one of {', '.join(DEVICE_KINDS)}")])
    entity = "technician" if kind == "technician" else "stock_location"
    with store.unit_of_work():
        subject = store.replica.entity(entity, subject_id)
        if not subject:
            raise ApiError(404, f"no {entity} {subject_id!r} at this hub",
                           [(f"{kind}_id", f"no {entity} with this id")],
                           hint=f"create the {entity} first (office API) or check the id")
        if kind == "van" and subject.get("kind") != "van":
            raise ApiError(409, f"{subject_id} is a {subject.get('kind') or 'stock location'}, not a van",
                           [("van_id", "a van terminal serves a van")],
                           hint="give the id of a stock location of kind 'van' (GET /api/v1/stock_locations?kind=van)")
        if kind == "technician" and subject.get("active") is False:
            raise ApiError(409, f"technician {subject_id} is not active", [("technician_id", "inactive technician")],
                           hint="make the technician active again first (PATCH /api/v1/technicians/<id>)")
        code = new_code()
        now = datetime.fromtimestamp(store.now_ms() / 1000, tz=UTC)
        store.conn.execute(
            "INSERT INTO enrolment_codes (code_hash, kind, technician_id, van_id, name, created_at, expires_at) "
            "VALUES (?,?,?,?,?,?,?)",
            (digest(normalise_code(code)), kind, subject_id if kind == "technician" else None,
             subject_id if kind == "van" else None, name, now.isoformat(),
             (now + timedelta(seconds=store.config.enrolment_ttl_s)).isoformat()),
        )
    return code


def enrol(store: HubStore, code: str, device_name: str | None, agent_version: str | None) -> tuple[Device, str]:
    """Trade a one-time code for a node id and a token (returned once, stored hashed)."""
    with store.unit_of_work():
        row = store.conn.execute(
            "SELECT kind, technician_id, van_id, name, expires_at, used_at FROM enrolment_codes WHERE code_hash = ?",
            (digest(normalise_code(code)),),
        ).fetchone()
        if row is None:
            raise ApiError(403, "unknown enrolment code", [("code", "not issued by this hub")],
                           hint="ask your administrator for a new code (fieldsync-hub admin enrol)")
        kind, technician_id, van_id, name, expires_at, used_at = row
        if used_at:
            raise ApiError(403, "enrolment code already used", [("code", "a code enrols one device only")],
                           hint="ask your administrator for a new code")
        if datetime.fromisoformat(expires_at) < datetime.fromtimestamp(store.now_ms() / 1000, tz=UTC):
            raise ApiError(403, "enrolment code expired", [("code", f"expired at {expires_at}")],
                           hint="ask your administrator for a new code")
        node = f"dev-{secrets.token_hex(4)}"
        token = secrets.token_urlsafe(32)
        store.conn.execute(
            "INSERT INTO devices (node, name, kind, technician_id, van_id, token_hash, created_at, agent_version) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (node, device_name or name, kind, technician_id, van_id, digest(token), store.now_iso(), agent_version),
        )
        store.conn.execute(
            "UPDATE enrolment_codes SET used_at = ?, used_by = ? WHERE code_hash = ?",
            (store.now_iso(), node, digest(normalise_code(code))),
        )
        return get_device(store, node), token


def get_device(store: HubStore, node: str) -> Device:
    row = store.conn.execute(f"SELECT {Device.COLUMNS} FROM devices WHERE node = ?", (node,)).fetchone()
    if row is None:
        raise ApiError(404, f"no device {node!r}", [("node", "not enrolled at this hub")])
    return Device(*row)


def revoke_device(store: HubStore, node: str) -> Device:
    with store.unit_of_work():
        device = get_device(store, node)
        if not device.revoked_at:
            store.conn.execute("UPDATE devices SET revoked_at = ? WHERE node = ?", (store.now_iso(), node))
        return get_device(store, node)


def create_user(store: HubStore, name: str, permissions: Iterable[str], customer_id: str | None = None) -> str:
    """An office (or portal) user with the given permissions; returns its token, shown once."""
    permissions = sorted(set(permissions))
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if unknown:
        raise ApiError(400, "unknown permission", [("permissions", f"{p} is not one of {', '.join(PERMISSIONS)}")
                                                   for p in unknown])
    if not USER_NAME.fullmatch(name):
        raise ApiError(400, "a user needs a name",
                       [("name", "1 to 64 characters: letters, digits, '.', '_', '-', '@'")],
                       hint="e.g. 'dispatch' or 'ana.silva@example.com'")
    token = secrets.token_urlsafe(32)
    with store.unit_of_work():
        if store.conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise ApiError(409, f"user {name!r} exists", [("name", "already taken")])
        if customer_id is not None and not store.replica.entity("customer", customer_id):
            raise ApiError(404, f"no customer {customer_id!r} at this hub",
                           [("customer_id", "no customer with this id")],
                           hint="give the id of a customer the office created (GET /api/v1/customers)")
        store.conn.execute(
            "INSERT INTO users (name, token_hash, permissions, customer_id, created_at) VALUES (?,?,?,?,?)",
            (name, digest(token), " ".join(permissions), customer_id, store.now_iso()),
        )
    return token


def list_users(store: HubStore) -> list[dict[str, Any]]:
    """Every user, tokens left out (only their hashes are kept)."""
    with store.reading():
        rows = store.conn.execute(
            "SELECT name, permissions, customer_id, created_at, revoked_at FROM users ORDER BY name").fetchall()
    return [{"name": name, "permissions": permissions.split(), "customer_id": customer, "created_at": created,
             "revoked_at": revoked} for name, permissions, customer, created, revoked in rows]


def revoke_user(store: HubStore, name: str) -> dict[str, Any]:
    """Stop ``name``'s token working from its next request; revoking twice keeps the first time."""
    with store.unit_of_work():
        row = store.conn.execute("SELECT revoked_at FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ApiError(404, f"no user {name!r}", [("name", "unknown user")],
                           hint="'fieldsync-hub admin user list' shows the users")
        if row[0] is None:
            store.conn.execute("UPDATE users SET revoked_at = ? WHERE name = ?", (store.now_iso(), name))
    return next(u for u in list_users(store) if u["name"] == name)


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token", [("Authorization", "send 'Authorization: Bearer <token>'")],
                       hint="enrol the device (fieldsync-agent enrol) or ask for a user token")
    return token.strip()


def current_store() -> HubStore:
    return current_app.extensions["fieldsync"]


def device_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """The request must carry a live device token; the device is in ``g.device``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        store = current_store()
        token = _bearer()
        with store.reading():
            row = store.conn.execute("SELECT node FROM devices WHERE token_hash = ?", (digest(token),)).fetchone()
            if row is None:
                raise ApiError(401, "unknown device token", [("Authorization", "not a token of this hub")],
                               hint="enrol the device again")
            device = get_device(store, row[0])
        if device.revoked_at:
            raise ApiError(401, "this device has been revoked", [("Authorization", f"revoked at {device.revoked_at}")],
                           hint="the administrator cut this device off; enrol a new one with a new code")
        g.device = device
        return view(*args, **kwargs)

    return wrapper


@dataclass
class User:
    name: str
    permissions: frozenset[str]
    customer_id: str | None


def permission_required(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The request must carry a live user token holding ``permission``; the user is in ``g.user``."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            store = current_store()
            token = _bearer()
            with store.reading():
                row = store.conn.execute(
                    "SELECT name, permissions, customer_id, revoked_at FROM users WHERE token_hash = ?",
                    (digest(token),),
                ).fetchone()
            if row is None or row[3]:
                raise ApiError(401, "unknown or revoked user token", [("Authorization", "not a live user token")],
                               hint="ask your administrator for a token (fieldsync-hub admin user add)")
            user = User(row[0], frozenset(row[1].split()), row[2])
            if permission not in user.permissions:
                raise ApiError(403, f"{permission} is required", [("Authorization", f"{user.name} lacks {permission}")],
                               hint="ask your administrator to grant the permission")
            g.user = user
            return view(*args, **kwargs)

        return wrapper

    return decorate
