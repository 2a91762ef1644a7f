"""One error shape for every JSON error the hub returns.

``{"ok": false, "error": "...", "errors": [{"field": ..., "reason": ...}], "status": N}`` — built
here and nowhere else; ``tests/hub/test_error_shape.py`` holds every route to it. And the first
refusal every JSON body meets: values that no store can keep (:func:`sync.ops.unstorable`), and
bodies nested too deep to read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, Request, jsonify, request
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.utils import cached_property

from schema.base import reason as marshmallow_reason
from sync.ops import MESSAGE_LEVELS, TOO_DEEP, unstorable


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
    where) if they hold what no store can keep: an integer beyond 64 bits, text with a NUL, or
    lists and objects nested deeper than a body may be (:data:`BODY_LEVELS`; a body too deep for
    the parser is named by a scan of its text). Checked on reading, not before the view, so a
    caller the route is not for is still told 401 or 403 first. (An id in the path that no store
    can keep names no record: see ``office_records.view``.)"""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            data = super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            where = _too_deep_at(self.get_data(cache=True), BODY_LEVELS)
            raise ApiError(400, "the request is not valid", [(where or "body", TOO_DEEP)],
                           hint=_UNSTORABLE_HINT) from None
        found = unstorable(data, BODY_LEVELS)
        if found is not None:
            where, why = found
            raise ApiError(400, "the request is not valid", [(where or "body", why)], hint=_UNSTORABLE_HINT)
        return data

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """A body that is not JSON: without a JSON content type, ask for one; with it, say the text
        does not parse and where (the parser's line and column), never "send Content-Type"."""
        if e is None:
            got = self.mimetype or "none"
            raise ApiError(400, "the body must be a JSON object",
                           [("body", f"send Content-Type: application/json (got {got})")],
                           hint="send the body as JSON with that header")
        raise ApiError(400, "the body is not valid JSON", [("body", _json_failure(self.get_data(cache=True), e))],
                       hint="fix the JSON (a JSON object) and send it again")

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


def _json_failure(text: bytes, exc: ValueError) -> str:
    """Why ``text`` is not JSON, and where, as the parser says."""
    if not text.strip():
        return "not valid JSON: the body is empty; send a JSON object"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid JSON: not UTF-8 text (byte {exc.start})"
    return f"not valid JSON: {exc}"


_JSON_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def json_object() -> dict[str, Any]:
    """The request body, which must be a JSON object: 400 naming ``body`` and saying whether the
    content type is missing, the text does not parse (where), or it parses to something else."""
    data = request.get_json()
    if not isinstance(data, dict):
        kind = _JSON_KINDS.get(type(data), type(data).__name__)
        raise ApiError(400, "the body must be a JSON object",
                       [("body", f"got {kind}; send a JSON object ({{\"name\": value, ...}})")],
                       hint="wrap the fields in one JSON object")
    return data


_UNSTORABLE_HINT = "no database the hub runs on can keep this value; send one that fits"

BODY_LEVELS = MESSAGE_LEVELS  # how deep a request body may nest (see sync.ops)

# A JSON text's strings and punctuation; what lies between (numbers, true, false, null) is skipped.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[][{}:,]', re.DOTALL)


def _too_deep_at(text: bytes, levels: int) -> str:
    """The path :func:`sync.ops.unstorable` names for a value nested more than ``levels`` deep,
    read off the JSON text itself (one too deep for the parser): the keys and indexes down to the
    first list or object beyond the bound; empty if there is none."""
    path: list[str] = []  # each open list's or object's index or key so far
    in_object: list[bool] = []
    expect_key = False
    for token in _JSON_TOKENS.findall(text):
        if token in (b"[", b"{"):
            if len(path) == levels:
                return ".".join(path)
            in_object.append(token == b"{")
            path.append("" if token == b"{" else "0")
            expect_key = token == b"{"
        elif token in (b"]", b"}"):
            if path:
                path.pop()
                in_object.pop()
            expect_key = False
        elif token == b",":
            if path and in_object[-1]:
                expect_key = True
            elif path:
                path[-1] = str(int(path[-1]) + 1)
        elif token == b":":
            expect_key = False
        elif expect_key and path:
            try:
                path[-1] = str(json.loads(token))
            except ValueError:
                path[-1] = token[1:-1].decode("utf-8", "replace")
    return ""


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
        if isinstance(exc, NotFound):
            return jsonify(body(404, f"no route {request.path}",
                                [("path", f"{request.path} is not a route of this hub")],
                                "GET /api/v1/openapi.json lists every route and its methods")), 404
        if isinstance(exc, MethodNotAllowed):
            allowed = sorted(set(exc.valid_methods or ()) - {"HEAD", "OPTIONS"})
            response = jsonify(body(405, f"{request.method} is not allowed on {request.path}",
                                    [("method", f"use {' or '.join(allowed) or 'another route'}")],
                                    "GET /api/v1/openapi.json lists every route and its methods"))
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods or ()))
            return response, 405
        return jsonify(body(status, exc.description or exc.name)), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return jsonify(body(500, "internal error in the hub; nothing was changed", (),
                            "try again; if it persists, send the hub log to your administrator")), 500
