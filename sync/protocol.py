"""The sync protocol: messages in, messages out, no I/O.

``handle(message, replica, now_ms)`` is the whole server side: it parses a request, asks the
replica, and returns the reply, bytes to bytes. ``sync(replica, transport, now_ms)`` is the
client side: push what the other side lacks, then pull what we lack, in bounded batches. Each
batch is one transaction at the receiver and acknowledged only after it commits; a batch lost
on the way is simply sent again next time, because ingest is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from .errors import InvalidOp, ProtocolError, SchemaVersionMismatch, SyncError
from .ops import MESSAGE_LEVELS, Op, from_wire, to_wire, unstorable
from .replica import IngestResult
from .vv import plan_push

PROTOCOL_VERSION = 1
# How a hub announces itself on the local network (mDNS / DNS-SD), and how agents look for it.
SERVICE_TYPE = "_fieldsync._tcp.local."
DEFAULT_BATCH = 1000
MAX_BATCH = 5000
# A pull reply may carry more: a device taking in a scope of 100,000 records pays per page for
# what it already holds (the hub and the device both), so fewer, larger pages bootstrap faster.
MAX_PULL = 20_000


class SyncReplica(Protocol):
    node: str

    def ingest(self, ops: list[Op], now_ms: int) -> IngestResult: ...

    def vector(self) -> dict[str, int]: ...

    def max_counters(self) -> dict[str, int]: ...

    def ops_after(self, after: Mapping[str, int], limit: int) -> list[Op]: ...


class Transport(Protocol):
    """Carries one request to the other replica and brings its reply back.

    Raises :class:`~sync.errors.TransportError` (retryable) when the round trip fails; the
    request may or may not have been processed, which the protocol tolerates.
    """

    def request(self, message: bytes) -> bytes: ...


def encode(message: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"v": PROTOCOL_VERSION, **message})


def decode(data: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"message is not valid JSON: {exc}") from None
    if not isinstance(message, dict) or "type" not in message:
        raise ProtocolError("message must be a JSON object with a 'type'")
    found = unstorable(message, MESSAGE_LEVELS)
    if found is not None:
        where, why = found
        raise ProtocolError(f"message: {where}: {why}")
    version = message.get("v")
    if version != PROTOCOL_VERSION:
        raise SchemaVersionMismatch(PROTOCOL_VERSION, version if isinstance(version, int) else -1)
    return message


def _vector(raw: Any, name: str) -> dict[str, int]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in raw.items()
    ):
        raise ProtocolError(f"{name} must map node ids to non-negative counters")
    return raw


# -- server side -----------------------------------------------------------------------------------
def handle(message: bytes, replica: SyncReplica, now_ms: int) -> bytes:
    """Answer one request. Never raises for bad input: errors become an ``error`` reply."""
    try:
        request = decode(message)
        handler = _HANDLERS.get(request["type"])
        if handler is None:
            raise ProtocolError(f"unknown message type {request['type']!r}")
        return encode(handler(request, replica, now_ms))
    except SyncError as exc:
        return encode({"type": "error", "error": str(exc), "retryable": exc.retryable})


def _on_hello(request: dict[str, Any], replica: SyncReplica, now_ms: int) -> dict[str, Any]:
    return {"type": "vector", "node": replica.node, "vector": replica.vector(), "now_ms": now_ms}


def _on_push(request: dict[str, Any], replica: SyncReplica, now_ms: int) -> dict[str, Any]:
    raw_ops = request.get("ops")
    if not isinstance(raw_ops, list):
        raise ProtocolError("ops must be a list")
    if len(raw_ops) > MAX_BATCH:
        raise ProtocolError(f"a batch holds at most {MAX_BATCH} ops; split it")
    ops, malformed = [], []
    for index, raw in enumerate(raw_ops):
        try:
            ops.append(from_wire(raw))
        except InvalidOp as exc:
            malformed.append({"index": index, "field": exc.field, "reason": exc.reason})
    reply = {"type": "ack", **replica.ingest(ops, now_ms).to_json(), "vector": replica.vector()}
    reply["rejected"] = malformed + reply["rejected"]
    return reply


def _on_pull(request: dict[str, Any], replica: SyncReplica, now_ms: int) -> dict[str, Any]:
    after = _vector(request.get("after", {}), "after")
    limit = request.get("limit", DEFAULT_BATCH)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_BATCH:
        raise ProtocolError(f"limit must be an integer from 1 to {MAX_BATCH}")
    ops = replica.ops_after(after, limit + 1)
    return {"type": "ops", "ops": [to_wire(op) for op in ops[:limit]], "more": len(ops) > limit}


_HANDLERS: dict[str, Callable[[dict[str, Any], SyncReplica, int], dict[str, Any]]] = {
    "hello": _on_hello,
    "push": _on_push,
    "pull": _on_pull,
}


# -- client side -----------------------------------------------------------------------------------
@dataclass
class SyncReport:
    pushed: int = 0
    pulled: int = 0
    accepted_remote: int = 0
    accepted_local: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    remote_node: str = ""
    remote_now_ms: int = 0


Progress = Callable[[str, int], None]


def _exchange(transport: Transport, message: Mapping[str, Any]) -> dict[str, Any]:
    reply = decode(transport.request(encode(message)))
    if reply["type"] == "error":
        error = ProtocolError(f"the other side refused: {reply.get('error')}")
        error.retryable = bool(reply.get("retryable"))
        raise error
    return reply


def sync(replica: SyncReplica, transport: Transport, now_ms: int, *, batch_size: int = DEFAULT_BATCH,
         progress: Progress | None = None) -> SyncReport:
    """Push then pull until both sides hold the same ops (within what the other side serves).

    Raises a retryable error if the transport fails part way; everything acknowledged before
    that is kept on both sides and the next call resumes from the version vectors.
    """
    report = SyncReport()
    hello = _exchange(transport, {"type": "hello", "node": replica.node, "vector": replica.vector()})
    report.remote_node = hello.get("node", "")
    report.remote_now_ms = hello.get("now_ms", 0)
    cursor = plan_push(replica.max_counters(), _vector(hello.get("vector", {}), "vector"))
    while cursor:
        ops = replica.ops_after(cursor, batch_size)
        if not ops:
            break
        ack = _exchange(transport, {"type": "push", "node": replica.node, "ops": [to_wire(op) for op in ops]})
        for op in ops:
            cursor[op.node] = max(cursor.get(op.node, 0), op.counter)
        report.pushed += len(ops)
        report.accepted_remote += ack.get("accepted", 0)
        report.rejected.extend(ack.get("rejected", []))
        report.batches += 1
        if progress:
            progress("push", report.pushed)

    after = dict(replica.vector())
    while True:
        reply = _exchange(transport, {"type": "pull", "after": after, "limit": batch_size})
        ops = [from_wire(raw) for raw in reply.get("ops", [])]
        if ops:
            result = replica.ingest(ops, now_ms)
            report.accepted_local += len(result.accepted)
            for op in ops:
                after[op.node] = max(after.get(op.node, 0), op.counter)
            report.pulled += len(ops)
            report.batches += 1
            if progress:
                progress("pull", report.pulled)
        if not reply.get("more") or not ops:
            break
    return report
