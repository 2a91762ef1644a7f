"""What every office and portal route shares: who may call it, reading the body and the query,
the success envelope, and the notes the OpenAPI description is built from."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, request
from marshmallow import ValidationError

from . import errors
from .auth import permission_required
from .errors import ApiError
from .office_records import IdFactory

READ = "service_management:read"
WRITE = "service_management:write"
ASSIGN = "service_management:assign"
MANAGE = "service_management:manage"

MAX_LIMIT = 1000


def doc(**notes: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Notes for the OpenAPI description of a view (``body``, ``response``, ``query``, ``status``,
    ``summary``, ``tag``). Put it innermost: the auth wrappers copy it outward with ``wraps``."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        view.openapi = {**getattr(view, "openapi", {}), **notes}  # type: ignore[attr-defined]
        return view

    return decorate


def office_required(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An office user holding ``permission``. Portal users (bound to a customer) are refused even
    when they hold it: the office API shows every customer's records."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def staff_only(*args: Any, **kwargs: Any) -> Any:
            if g.user.customer_id:
                raise ApiError(403, "portal users cannot use the office API",
                               [("Authorization", f"{g.user.name} is a portal user of one customer")],
                               hint="use the portal routes under /api/v1/portal")
            return view(*args, **kwargs)

        wrapped = permission_required(permission)(staff_only)
        wrapped.openapi = {**getattr(view, "openapi", {}), "permission": permission}  # type: ignore[attr-defined]
        return wrapped

    return decorate


def portal_required(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A portal user (a user bound to a customer) holding ``permission``."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def customers_only(*args: Any, **kwargs: Any) -> Any:
            if not g.user.customer_id:
                raise ApiError(403, "the portal is for customer accounts",
                               [("Authorization", f"{g.user.name} is not bound to a customer")],
                               hint="office staff use the office routes (GET /api/v1/tickets)")
            return view(*args, **kwargs)

        wrapped = permission_required(permission)(customers_only)
        wrapped.openapi = {**getattr(view, "openapi", {}), "permission": permission,  # type: ignore[attr-defined]
                           "portal": True}
        return wrapped

    return decorate


def json_object() -> dict[str, Any]:
    """The request body, which must be a JSON object (see :func:`errors.json_object`)."""
    return errors.json_object()


def query(allowed: Mapping[str, Any], *, extra: Iterable[str] = (), paged: bool = True) -> dict[str, Any]:
    """Query parameters as typed values: ``allowed`` maps a name to a marshmallow field. Unknown
    names are refused, naming every parameter the route takes (its filters, and ``after`` and
    ``limit`` where it pages), so a misspelt filter never silently lists everything. A route that
    does not page (``paged=False``) refuses ``after`` and ``limit`` too: they would do nothing."""
    values: dict[str, Any] = {}
    errors = []
    paging_names = ("after", "limit") if paged else ()
    for name in request.args:
        if name in (*paging_names, *extra):
            continue
        spec = allowed.get(name)
        if spec is None:
            taken = [f"filters: {', '.join(sorted(allowed))}" if allowed else "no filters"]
            if paged:
                taken.append("paging: after, limit")
            elif name in ("after", "limit"):
                taken.append("this route does not page")
            errors.append((name, f"not a query parameter here; {'; '.join(taken)}"))
            continue
        try:
            values[name] = spec.deserialize(request.args[name])
        except ValidationError as exc:
            errors.append((name, " ".join(map(str, exc.messages))))
    if errors:
        raise ApiError(400, "bad query parameters", errors, hint="leave out or correct the parameters named")
    return values


def paging() -> tuple[str, int]:
    """(after, limit): list rows with ids after ``after`` (ids are time-ordered), ``limit`` at most."""
    raw = request.args.get("limit", "100")
    # isascii: str.isdigit() is also true of '¹' and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, "bad query parameters", [("limit", f"a whole number from 1 to {MAX_LIMIT}")])
    return request.args.get("after", ""), int(raw)


def new_id() -> str:
    """A fresh time-ordered id, by the hub clock."""
    ids: IdFactory = current_app.extensions["fieldsync.ids"]
    return ids(current_app.extensions["fieldsync"].now_ms())


def ok(data: Any, status: int = 200, **extra: Any):
    """The success envelope: ``{"ok": true, "data": ...}``."""
    return jsonify({"ok": True, "data": data, **extra}), status


def listing(rows: list[dict[str, Any]], limit: int):
    """A page of rows; ``next`` is the ``after`` to ask for the following page, if there may be one."""
    following = rows[-1]["id"] if len(rows) >= limit else None
    return jsonify({"ok": True, "data": rows, "count": len(rows), "next": following})
