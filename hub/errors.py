"""One error shape for every JSON error the hub returns.

``{"ok": false, "error": "...", "errors": [{"field": ..., "reason": ...}], "status": N}`` — built
here and nowhere else; ``tests/hub/test_error_shape.py`` holds every route to it. And the first
refusal every JSON body meets: values that no store can keep (:func:`sync.ops.unstorable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, Request, jsonify
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.utils import cached_property

from schema.base import reason as marshmallow_reason
from sync.ops import unstorable


class ApiError(Exception):
    """An error to answer with. ``errors`` are (field, reason) pairs; ``hint`` says what to do."""

    def __init__(self, status: int, error: str, errors: Iterable[tuple[str, str]] = (), *, hint: str = "") -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.errors = list(errors)
        self.hint = hint


def body(status: int, error: str, errors: Iterable[tuple[str, str]] = (), hint: str = "") -> dict[str, Any]:
    payload: dict[str, Any] = {
        "ok": False,
        "error": error,
        "errors": [{"field": field, "reason": reason} for field, reason in errors],
        "status": status,
    }
    if hint:
        payload["hint"] = hint
    return payload


def field_errors(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten marshmallow's nested messages into (dotted.field, reason) pairs."""
    found: list[tuple[str, str]] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                found.extend(field_errors(value, name))
            else:
                found.append((name, marshmallow_reason(ValidationError(value))))
    else:
        found.append((prefix or "body", marshmallow_reason(ValidationError(messages))))
    return found


class HubRequest(Request):
    """A request whose JSON body and query, when a view reads them, are refused (400, naming
    where) if they hold what no store can keep: an integer beyond 64 bits, or text with a NUL.
    Checked on reading, not before the view, so a caller the route is not for is still told 401
    or 403 first. (An id in the path that no store can keep names no record: see
    ``office_records.view``.)"""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        data = super().get_json(force=force, silent=silent, cache=cache)
        found = unstorable(data)
        if found is not None:
            where, why = found
            raise ApiError(400, "the request is not valid", [(where or "body", why)], hint=_UNSTORABLE_HINT)
        return data

    @cached_property
    def args(self) -> MultiDict[str, str]:
        # Parsed afresh on each read until it passes, so a refused query is never served from cache.
        parsed = Request.args.fget(self)  # type: ignore[attr-defined]
        refused = []
        for name, value in parsed.items(multi=True):
            found = unstorable(name) or unstorable(value)
            if found is not None:
                refused.append((name, found[1]))
        if refused:
            raise ApiError(400, "bad query parameters", refused, hint=_UNSTORABLE_HINT)
        return parsed


_UNSTORABLE_HINT = "no database the hub runs on can keep this value; send one that fits"


def init_app(app: Flask) -> None:
    app.request_class = HubRequest

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(body(exc.status, exc.error, exc.errors, exc.hint)), exc.status

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        errors = field_errors(exc.messages)
        return jsonify(body(400, "the request is not valid", errors, "fix the fields named and send it again")), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        return jsonify(body(status, exc.description or exc.name)), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return jsonify(body(500, "internal error in the hub; nothing was changed", (),
                            "try again; if it persists, send the hub log to your administrator")), 500
