"""The sync API devices talk to: hello (clock and state), push (their ops), pull (ops in scope).

A hello first merges what waited in quarantine for the hub's clock, and tells the device which of
its ops the hub still holds there (``hub/quarantine.py``).

Every request is authenticated by the device token. Pushed ops must be authored by the device's
own node (else the whole batch is refused: 403, nothing stored); ops outside what the device may
change are kept in quarantine with the reason and reported back, the rest are merged in one
transaction. Pulls return ops since the device's cursor, filtered to its scope; when entities
enter its scope (a job assigned to it) their history comes first.

Each pull reply carries an offer id; the device echoes (``ack``) the id of the last reply it
committed, and only that echo tells the hub the device now holds what the reply offered. The
cursor cannot say it: a history page leaves the cursor where it was, so a pull retried after a
lost history reply comes with the very cursor that was offered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from flask import Blueprint, Response, g, jsonify
from marshmallow import Schema, fields, validate

from sync.errors import InvalidOp
from sync.ops import Op, OpId, from_wire, to_wire
from sync.protocol import MAX_BATCH, MAX_PULL, PROTOCOL_VERSION
from sync.replica import Rejection, passes_schema
from sync.store.sql import SqlReplica

from . import quarantine
from .auth import Device, current_store, device_required, get_device
from .errors import ApiError, json_object
from .scope import Scope, check_write, compute_scope
from .store import WRITE_SLICE, HubStore

# A push is ingested WRITE_SLICE ops at a time. Committing slices apart is safe because ingest is
# idempotent: a push cut between two slices is resent whole and the first counts as duplicates.

bp = Blueprint("sync_api", __name__, url_prefix="/api/v1/sync")


class HelloSchema(Schema):
    device_now_ms = fields.Integer(required=True, validate=validate.Range(min=0))
    clock_offset_ms = fields.Integer(allow_none=True, load_default=None)
    agent_version = fields.String(load_default=None, validate=validate.Length(max=40))
    protocol = fields.Integer(load_default=PROTOCOL_VERSION)


class PushSchema(Schema):
    ops = fields.List(fields.Raw(), required=True, validate=validate.Length(max=MAX_BATCH))


class PullSchema(Schema):
    cursor = fields.Integer(required=True, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=1000, validate=validate.Range(1, MAX_PULL))
    # The offer id of the last reply the device committed (None: an agent that predates offer ids).
    ack = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0))


def _json_body(schema: Schema) -> dict[str, Any]:
    data = json_object()
    return schema.load(data)


@bp.post("/hello")
@device_required
def hello():
    data = _json_body(HelloSchema())
    if data["protocol"] != PROTOCOL_VERSION:
        raise ApiError(409, "protocol version mismatch", [("protocol", f"this hub speaks {PROTOCOL_VERSION}")],
                       hint="upgrade the agent (or the hub) so both speak the same protocol")
    store = current_store()
    device: Device = g.device
    if quarantine.release_due(store):
        store.poke_engines()
    now = store.now_ms()
    # Measured now, on this request: the device's own estimate is NTP-style finer (no network
    # delay) but comes from its previous sync, and a tablet whose clock jumped since then would be
    # corrected by the old value. Loopback or LAN delay is a few milliseconds.
    offset = now - data["device_now_ms"]
    with store.unit_of_work():
        store.conn.execute(
            "UPDATE devices SET clock_offset_ms = ?, skewed = ?, last_seen_at = ?, agent_version = "
            "coalesce(?, agent_version) WHERE node = ?",
            (offset, int(abs(offset) > store.config.skew_flag_ms), store.now_iso(), data["agent_version"],
             device.node),
        )
        held = quarantine.held_for(store, device.node)
    return jsonify({
        "ok": True, "protocol": PROTOCOL_VERSION, "hub_node": store.replica.node, "hub_now_ms": now,
        "node": device.node, "kind": device.kind, "technician_id": device.technician_id, "van_id": device.van_id,
        "hub_has": store.replica.vector().get(device.node, 0), "max_ahead_ms": store.config.max_ahead_ms,
        "clock_offset_ms": offset, **held,
    })


@bp.post("/push")
@device_required
def push():
    data = _json_body(PushSchema())
    store = current_store()
    device: Device = g.device
    ops: list[Op] = []
    malformed: list[tuple[str, str]] = []
    for index, raw in enumerate(data["ops"]):
        try:
            ops.append(from_wire(raw))
        except InvalidOp as exc:
            malformed.append((f"ops.{index}.{exc.field}", exc.reason))
    if malformed:
        raise ApiError(400, "malformed ops in the batch; nothing was stored", malformed,
                       hint="this is a bug in the sending agent: report it with the batch")
    forged = [(f"ops.{i}.node", f"{op.node!r} is not this device ({device.node})")
              for i, op in enumerate(ops) if op.node != device.node]
    if forged:
        raise ApiError(403, "a device may push only ops it authored itself; nothing was stored", forged,
                       hint="push from the device that recorded the work")
    accepted = duplicates = 0
    rejected: list[tuple[OpId, Rejection]] = []
    # Worked out on a snapshot before the first slice, so no slice holds the writers while a
    # scope is computed. What changes meanwhile cannot matter: a device acts only on what it was
    # offered, and the write scope keeps everything offered.
    with store.planning() as view:
        writable = _write_scope(view, device, ops)
    # The schema's validators, out here where no writer waits on them: they cost a push slice
    # more than the rest of its ingest.
    registry = store.replica.registry
    valid = [passes_schema(op, registry) for op in ops]
    for start in range(0, len(ops), WRITE_SLICE):
        if start:
            store.let_queued_writes_in()
        with store.unit_of_work():
            refused = []
            allowed = []
            for op in ops[start:start + WRITE_SLICE]:
                rejection = check_write(store, device, writable, op)
                if rejection is None:
                    allowed.append(op)
                else:
                    refused.append((op, rejection))
            # A slice holding an invalid op is checked whole in the ingest, which says what is wrong.
            result = store.replica.ingest(allowed, store.now_ms(),
                                          schema_checked=all(valid[start:start + WRITE_SLICE]))
            accepted += len(result.accepted)
            duplicates += result.duplicates
            rejected += result.rejected + store.replica.quarantine(refused, store.now_ms())
    with store.unit_of_work():
        store.conn.execute(
            "UPDATE devices SET pushed = pushed + ?, rejected = rejected + ?, last_sync_at = ?, last_seen_at = ? "
            "WHERE node = ?",
            (accepted, len(rejected), store.now_iso(), store.now_iso(), device.node),
        )
        store.conn.execute(
            "INSERT INTO sync_log (node, at, kind, ops, accepted, rejected, clock_offset_ms) VALUES (?,?,?,?,?,?,?)",
            (device.node, store.now_iso(), "push", len(ops), accepted, len(rejected), device.clock_offset_ms),
        )
    if accepted:
        store.poke_engines()
    return jsonify({
        "ok": True,
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": [r.to_json(op_id) for op_id, r in rejected],
        "hub_has": store.replica.vector().get(device.node, 0),
    })


def _write_scope(store: HubStore, device: Device, ops: list[Op]) -> Scope:
    """What the device may act on: what it holds now, what it last synced, what it was offered —
    so work done offline on a job reassigned meanwhile is still accepted. What it holds now is
    computed only if an op falls outside the two it synced (a job assigned since its last pull):
    every rule of ``check_write`` admits in a larger scope whatever it admits in a smaller one."""
    synced = _writable(Scope.loads(device.acked_scope), Scope.loads(device.offered_scope))
    if all(check_write(store, device, synced, op) is None for op in ops):
        return synced
    return _writable(synced, compute_scope(store, device))


def _writable(*scopes: Scope) -> Scope:
    """The union of ``scopes`` as far as ``check_write`` reads them (jobs, tickets, vans): their
    entities, which a big scope holds by the hundred thousand, are left out."""
    return Scope(frozenset(), frozenset().union(*(s.types for s in scopes)),
                 frozenset().union(*(s.jobs for s in scopes)), frozenset().union(*(s.tickets for s in scopes)),
                 frozenset().union(*(s.vans for s in scopes)))


@bp.post("/pull")
@device_required
def pull():
    data = _json_body(PullSchema())
    store = current_store()
    # Made on a snapshot, beside writers: a bootstrap page of 20,000 ops takes a while to make,
    # and pushes, office edits and other devices' pulls go on meanwhile. Only what the reply
    # offers is written, after, in a short transaction.
    with store.planning() as view:
        device = get_device(view, g.device.node)
        reply, offer = _pull(view, device, data["cursor"], data["limit"], data["ack"])
    with store.unit_of_work():
        _record_offer(store, device, offer, len(reply["ops"]))
    # orjson: a bootstrap page carries thousands of ops, several times faster than jsonify's encoder.
    return Response(orjson.dumps(reply), mimetype="application/json")


@dataclass(frozen=True)
class Offer:
    """What a pull reply offers the device, recorded once the reply is made."""

    acknowledged: bool  # the pull said the device committed the reply before
    offer_id: int
    cursor: int
    scope: str  # as JSON text (Scope.dumps), written out before the transaction: 100,000 records take a while


def _record_offer(store: HubStore, device: Device, offer: Offer, sent: int) -> None:
    """Write what the reply offers, unless another pull of this device was answered since the
    snapshot ``device`` was read in (two agents on one device's token, or a retry overtaking
    its first try): then nothing is written and the device is told to retry."""
    if get_device(store, device.node).offer_id != offer.offer_id - 1:
        raise ApiError(503, "the hub was busy with the same device; nothing was changed",
                       [("device", "another pull of this device was answered meanwhile")],
                       hint="retry: the next attempt succeeds")
    if offer.acknowledged:
        # The device committed our last reply: what we offered is what it holds now.
        store.conn.execute(
            "UPDATE devices SET acked_cursor = offered_cursor, acked_scope = offered_scope WHERE node = ?",
            (device.node,),
        )
    store.conn.execute(
        "UPDATE devices SET offered_cursor = ?, offered_scope = ?, offer_id = ?, pulled = pulled + ?, "
        "last_sync_at = ?, last_seen_at = ? WHERE node = ?",
        (offer.cursor, offer.scope, offer.offer_id, sent, store.now_iso(), store.now_iso(), device.node),
    )
    store.conn.execute(
        "INSERT INTO sync_log (node, at, kind, ops, clock_offset_ms) VALUES (?,?,?,?,?)",
        (device.node, store.now_iso(), "pull", sent, device.clock_offset_ms),
    )


def _acknowledges(device: Device, cursor: int, ack: int | None) -> bool:
    """Whether this pull says the device committed our last reply (and holds what it offered)."""
    if device.offered_cursor is None or cursor != device.offered_cursor:
        return False
    # An agent that sends no ack predates offer ids: the cursor is all it says, as it always was
    # (a pull retried after a lost history reply reads as an ack; such an agent should upgrade).
    return ack is None or ack == device.offer_id


def _pull(store: HubStore, device: Device, cursor: int, limit: int,
          ack: int | None = None) -> tuple[dict[str, Any], Offer]:
    """The reply to a pull, made from ``store`` (a snapshot), and what it offers the device."""
    replica = store.replica
    acknowledged = _acknowledges(device, cursor, ack)
    if acknowledged:
        # The device committed our last reply: what we offered is what it holds now.
        device = replace(device, acked_cursor=device.offered_cursor or 0, acked_scope=device.offered_scope)
    if cursor > replica.log_end():
        # No cursor of ours lies past the end of our log: the hub was restored from a backup
        # older than the device's last sync. Start the device over rather than skip what is new.
        cursor = 0
    # A device asking from the start holds nothing we can count on (new, reinstalled, restored).
    held = Scope.loads(device.acked_scope) if cursor > 0 else Scope()
    scope = compute_scope(store, device)
    added = [key for key in scope.ordered if key not in held.entities]
    new_types = sorted(scope.types - held.types)
    if added or new_types:
        return _send_history(store, device, cursor, limit, held, scope, added, new_types, acknowledged)

    ops: list[Op] = []
    next_cursor = cursor
    end = replica.log_end()
    # Until the reply is full or the log ends: most ops may belong to other devices' scopes, so
    # a window can shrink to nothing after filtering.
    for window, past_window in _log_windows(replica, cursor, end, limit):
        next_cursor = past_window
        ops.extend(op for op in window if op.node != device.node
                   and (scope.contains(op.entity, op.eid) or held.contains(op.entity, op.eid)))
        if len(ops) >= limit:
            break
    left = sorted(held.entities - scope.entities)
    offer = Offer(acknowledged, device.offer_id + 1, next_cursor, scope.dumps())
    return {
        "ok": True, "ops": [to_wire(op) for op in ops], "cursor": next_cursor, "more": next_cursor < end,
        "left_scope": [list(e) for e in left], "history": False, "hub_now_ms": store.now_ms(),
        "offer": offer.offer_id,
    }, offer


def _send_history(store: HubStore, device: Device, cursor: int, limit: int, held: Scope, scope: Scope,
                  added: list[tuple[str, str]], new_types: list[str],
                  acknowledged: bool) -> tuple[dict[str, Any], Offer]:
    """Entities that entered the scope arrive whole, a page at a time: the ops their current state is
    made of, the device's own included, and the list of them (``entities``). The device resets
    each to exactly that — what it held of one that was in its scope before may since have been
    superseded here by ops its cursor passed while the entity was out — keeping on top its own ops
    newer than ``hub_has`` (recorded after its push)."""
    replica = store.replica
    wanted = list(added)
    for entity in new_types:
        wanted.extend((entity, eid) for eid in replica.entity_ids(entity))
    # A device that held nothing gets the current state of everything in its scope: the log
    # before this moment has nothing more to give it, so its cursor jumps to the end.
    fresh = not held.entities and not held.types
    # Otherwise the feed replays, after this history, the entities' ops past the device's cursor:
    # they go with the history too, so the device rebuilds from all it will be sent of them up to
    # now. An older write replayed after the device holds its successor (from this history, or
    # from one sent before and again) would otherwise read as a conflict that never happened.
    replayed = {} if fresh else _ops_past(store, device.node, cursor, set(wanted))
    sent: list[tuple[str, str]] = []
    ops: list[list[Any]] = []  # in wire form
    # Entities go a page at a time: one history read per page decodes each op chunk once.
    page_size = max(1, limit // 4)
    for start in range(0, len(wanted), page_size):
        page = wanted[start:start + page_size]
        history = replica.history_wire(page)
        if replayed:
            kept = {(row[0], row[1]) for row in history}
            history.extend(to_wire(op) for key in page for op in replayed.get(key, ())
                           if (op.node, op.counter) not in kept)
        if ops and len(ops) + len(history) > limit:
            break
        ops.extend(history)
        sent.extend(page)
    finished = len(sent) == len(wanted)
    if finished and not fresh:
        store.kept(_Replays).take(device.node)  # the sequence is over: nothing more to replay
    if finished:
        # Jobs that are leaving stay writable until the reply that says so has been received.
        offered = Scope(held.entities | scope.entities, held.types | scope.types, held.jobs | scope.jobs,
                        held.tickets | scope.tickets, held.vans | scope.vans)
    else:
        offered = Scope(held.entities.union(sent), held.types, held.jobs, held.tickets, held.vans)
    next_cursor = max(cursor, replica.log_end()) if fresh else cursor
    offer = Offer(acknowledged, device.offer_id + 1, next_cursor, offered.dumps())
    return {
        "ok": True, "ops": ops, "cursor": next_cursor, "more": True, "left_scope": [],
        "history": True, "entities": [list(e) for e in sent], "hub_has": replica.vector().get(device.node, 0),
        "hub_now_ms": store.now_ms(), "offer": offer.offer_id,
    }, offer


@dataclass
class _Replay:
    """The ops of a history sequence's entities past the device's cursor, read up to ``read_to``."""

    cursor: int
    keys: frozenset[tuple[str, str]]
    read_to: int
    found: dict[tuple[str, str], list[Op]] = field(default_factory=dict)


class _Replays:
    """Each device's last :class:`_Replay`, so the pages of one history sequence read the log past
    its cursor once, then only what landed since (a device far behind has much of it)."""

    SIZE = 16

    def __init__(self) -> None:
        self._by_node: OrderedDict[str, _Replay] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, node: str) -> _Replay | None:
        # Taken out while in use: two pulls of one device at once each read for themselves.
        with self._lock:
            return self._by_node.pop(node, None)

    def keep(self, node: str, replay: _Replay) -> None:
        with self._lock:
            self._by_node[node] = replay
            while len(self._by_node) > self.SIZE:
                self._by_node.popitem(last=False)


def _ops_past(store: HubStore, node: str, cursor: int,
              keys: set[tuple[str, str]]) -> dict[tuple[str, str], list[Op]]:
    """The ops of these entities the log holds past ``cursor``, by entity, in log order (those of
    more entities may be there too: a page asks for the rest of its sequence's entities)."""
    replica = store.replica
    end = replica.log_end()
    replays = store.kept(_Replays)
    replay = replays.take(node)
    # The log only grows (seq order is commit order), so what was read up to read_to stands;
    # a log that ends before it was restored from a backup meanwhile.
    if replay is None or replay.cursor != cursor or not keys <= replay.keys or replay.read_to > end:
        replay = _Replay(cursor, frozenset(keys), cursor)
    for window, past in _log_windows(replica, replay.read_to, end, MAX_BATCH):
        for op in window:
            key = (op.entity, op.eid)
            if key in replay.keys:
                replay.found.setdefault(key, []).append(op)
        replay.read_to = past
    found = {key: list(ops) for key, ops in replay.found.items() if key in keys}  # the next page appends
    replays.keep(node, replay)
    return found


def _log_windows(replica: SqlReplica, cursor: int, end: int, size: int) -> Iterator[tuple[list[Op], int]]:
    """The log from ``cursor`` to ``end``, ``size`` ops at a time, each with the cursor past it."""
    while cursor < end:
        window, cursor = replica.ops_since(cursor, size)
        if not window:
            return
        yield window, cursor


