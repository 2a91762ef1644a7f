"""Content-addressed blobs (photos, signatures, documents), uploaded in chunks that resume.

``GET /api/v1/blobs/<sha256>`` says how many bytes the hub already has; ``PUT`` with ``offset``
and ``size`` appends the next chunk. When the last byte arrives the hub hashes the whole file:
a match moves it into the store (verified), a mismatch discards it (422) so the device sends it
again. A record that references a blob counts as complete only once the blob is verified.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from flask import Blueprint, g, jsonify, request, send_file

from .auth import current_store, device_required
from .errors import ApiError
from .office_http import office_required
from .store import HubStore

bp = Blueprint("blobs", __name__, url_prefix="/api/v1/blobs")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_name(sha256: str) -> str:
    # The name becomes a file path: only a lowercase hex digest may pass, so "../" never does.
    if not SHA256.match(sha256):
        raise ApiError(400, "a blob is named by its SHA-256", [("sha256", "must be 64 lowercase hex characters")])
    return sha256


def final_path(store: HubStore, sha256: str) -> Path:
    return store.config.blobs / sha256[:2] / sha256


def partial_path(store: HubStore, sha256: str) -> Path:
    return store.config.blobs / "partial" / sha256


def blob_state(store: HubStore, sha256: str) -> dict | None:
    row = store.conn.execute("SELECT size, received, status FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
    if row is None:
        return None
    return {"sha256": sha256, "size": row[0], "received": row[1], "status": row[2]}


@bp.get("/<sha256>")
@device_required
def status(sha256: str):
    store = current_store()
    _check_name(sha256)
    with store.reading():
        state = blob_state(store, sha256)
    if state is None:
        raise ApiError(404, "the hub has no bytes of this blob yet", [("sha256", "unknown")],
                       hint="upload it from offset 0")
    return jsonify({"ok": True, **state})


@bp.put("/<sha256>")
@device_required
def upload(sha256: str):
    store = current_store()
    _check_name(sha256)
    offset = request.args.get("offset", type=int)
    size = request.args.get("size", type=int)
    errors = []
    if offset is None or offset < 0:
        errors.append(("offset", "a whole number of bytes already sent, 0 to start"))
    if size is None or size < 1:
        errors.append(("size", "the blob's total size in bytes"))
    elif size > store.config.max_blob_bytes:
        errors.append(("size", f"at most {store.config.max_blob_bytes} bytes"))
    if errors:
        raise ApiError(400 if not any(f == "size" and "at most" in r for f, r in errors) else 413,
                       "bad upload parameters", errors)
    chunk = request.get_data(cache=False)
    if len(chunk) > store.config.max_chunk_bytes:
        raise ApiError(413, "chunk too large", [("body", f"send at most {store.config.max_chunk_bytes} bytes a chunk")])
    with store.unit_of_work():
        state = blob_state(store, sha256)
        if state and state["status"] == "verified":
            return jsonify({"ok": True, **state})
        received = state["received"] if state else 0
        if state and state["size"] != size:
            raise ApiError(409, "size differs from the upload in progress", [("size", f"was {state['size']}")])
        if offset != received:
            raise ApiError(409, f"the hub has {received} bytes of this blob", [("offset", f"resume from {received}")],
                           hint=f"send the bytes from offset {received}")
        if received + len(chunk) > size:
            raise ApiError(400, "more bytes than the declared size", [("body", f"{size - received} bytes remain")])
        part = partial_path(store, sha256)
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "r+b" if part.exists() else "wb") as handle:
            handle.seek(offset)
            handle.write(chunk)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
        received += len(chunk)
        if state is None:
            store.conn.execute(
                "INSERT INTO blobs (sha256, size, received, status, uploaded_by, created_at) VALUES (?,?,?,?,?,?)",
                (sha256, size, received, "partial", g.device.node, store.now_iso()),
            )
        else:
            store.conn.execute("UPDATE blobs SET received = ? WHERE sha256 = ?", (received, sha256))
        mismatch = _verify(store, sha256, part) if received == size else None
        state = blob_state(store, sha256)
    if mismatch:
        # Reported after the commit: the discarded upload is forgotten for good, so the device
        # starts again from offset 0.
        raise ApiError(422, "the bytes do not hash to the blob's name; they were discarded",
                       [("body", f"SHA-256 of the upload is {mismatch}")], hint="upload the file again from offset 0")
    return jsonify({"ok": True, **state})


def _verify(store: HubStore, sha256: str, part: Path) -> str | None:
    """Move a complete upload into the store if its hash matches; else discard it and return the
    hash it had."""
    hasher = hashlib.sha256()
    with open(part, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    if hasher.hexdigest() != sha256:
        part.unlink()
        store.conn.execute("DELETE FROM blobs WHERE sha256 = ?", (sha256,))
        return hasher.hexdigest()
    target = final_path(store, sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, target)
    store.conn.execute("UPDATE blobs SET status = 'verified', verified_at = ? WHERE sha256 = ?",
                       (store.now_iso(), sha256))
    return None


@bp.get("/<sha256>/content")
@office_required("service_management:read")
def content(sha256: str):
    store = current_store()
    _check_name(sha256)
    with store.reading():
        state = blob_state(store, sha256)
    if state is None or state["status"] != "verified":
        raise ApiError(404, "blob not at the hub yet", [("sha256", "not uploaded or not verified")],
                       hint="the device uploads it at its next sync")
    return send_file(final_path(store, sha256), mimetype="application/octet-stream")
