"""The replica algorithm, written once over a storage protocol.

``ingest``, ``rebuild`` and ``author`` decide everything — dedup, validation, the clock bound,
which register each op lands in, the merge, the clock update — and call the storage only to read
and persist.
The in-memory replica and the SQLite store both implement :class:`ReplicaStorage`, so they cannot
disagree on a rule; the store adds transactions around the calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from . import hlc as hlc_
from .errors import ClockSkewError, InvalidOp
from .kinds import KINDS, Conflict, MergeContext
from .kinds.base import require_action
from .ops import DELETE, REMOVE, SET, Op, OpId, dumps
from .registry import ENTITY_FIELD, FieldSpec, RegisterKey, Registry, new_key

# Bound methods looked up once: these run for every op ingested.
_VALIDATE = {name: kind.validate for name, kind in KINDS.items()}
_MERGE = {name: kind.merge for name, kind in KINDS.items()}
_ID = itemgetter(0, 1)  # an op's (node, counter)
_HLC = itemgetter(2)
# id(spec) -> (spec, spec without its validator); the spec is held so its id is never reused.
_UNVALIDATED: dict[int, tuple[FieldSpec, FieldSpec]] = {}


def _unvalidated(spec: FieldSpec) -> FieldSpec:
    """``spec`` without the schema's validator (see ``ingest(schema_checked=True)``)."""
    found = _UNVALIDATED.get(id(spec))
    if found is None:
        found = _UNVALIDATED[id(spec)] = (spec, dataclasses.replace(spec, validator=None))
    return found[1]


class Rejection(NamedTuple):
    """Why an op was quarantined; ``field`` names what was wrong with it. ``clock_ahead``: its
    timestamp lay beyond the clock bound and nothing else was wrong with it, so it waits for this
    replica's clock to catch up (:func:`release`) rather than being refused for good."""

    field: str
    reason: str
    clock_ahead: bool = False

    def to_json(self, op_id: tuple[str, int]) -> dict[str, Any]:
        """How a sync reply reports the op ``op_id`` quarantined for this reason."""
        return {"id": [op_id[0], op_id[1]], "field": self.field, "reason": self.reason,
                "clock_ahead": self.clock_ahead}


@dataclass
class IngestResult:
    accepted: list[tuple[str, int]] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[tuple[OpId, Rejection]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "duplicates": self.duplicates,
            "rejected": [r.to_json(op_id) for op_id, r in self.rejected],
        }


class ReplicaStorage(Protocol):
    """What the algorithm needs from a place that keeps a replica. Implementations persist
    exactly what they are given; they decide nothing."""

    node: str
    registry: Registry
    max_ahead_ms: int

    def held(self, ids: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Rejection | None]:
        """For each id already held: None if accepted, its Rejection if quarantined. Ids are
        (node, counter) pairs; an OpId is one."""

    def arrived(self, op_id: tuple[str, int]) -> bool:
        """Whether an op with this id has been accepted here."""

    def load(self, keys: Sequence[RegisterKey]) -> dict[RegisterKey, Any]:
        """The current registers for these keys (absent keys are left out)."""

    def save(self, accepted: Sequence[Op], registers: Mapping[RegisterKey, Any],
             quarantined: Sequence[tuple[Op, Rejection]], clock: int,
             released: Sequence[tuple[str, int]] = ()) -> None:
        """Persist one ingested batch, all or nothing. ``released``: ops that leave quarantine
        with this batch, each of them now in ``accepted`` or in ``quarantined`` again."""

    def waiting(self, latest: int, limit: int) -> list[Op]:
        """Up to ``limit`` ops quarantined only for a timestamp too far ahead (``clock_ahead``)
        whose HLC is now at most ``latest``, earliest first (by ``Op.order``)."""

    def drop(self, entities: Sequence[tuple[str, str]]) -> None:
        """Forget the registers of these (entity, eid) and the conflicts they keep, in the same
        transaction as the ``save`` that follows; their ops stay in the log."""

    def clock(self) -> int:
        """The last HLC this replica issued or observed."""

    def next_counter(self) -> int:
        """The counter of the next op this node authors."""


# What a validator raises for a value of a shape it never expected (a list where a name belongs...):
# the op is quarantined like any invalid one rather than failing the whole batch.
_MALFORMED = (TypeError, ValueError, KeyError)


def _validated(op: Op, registry: Registry) -> tuple[RegisterKey, FieldSpec]:
    """Route and validate one op against the schema; raises InvalidOp or one of ``_MALFORMED``."""
    key, spec = registry.route(op)
    _VALIDATE[key.kind](op, spec)
    return key, spec


def check(op: Op, registry: Registry, now_ms: int, max_ahead_ms: int) -> tuple[RegisterKey, FieldSpec]:
    """Route and validate one op; raises InvalidOp or ClockSkewError."""
    key, spec = _validated(op, registry)
    hlc_.check_ahead(op.hlc, now_ms, max_ahead_ms)
    return key, spec


def passes_schema(op: Op, registry: Registry) -> bool:
    """Whether ``op`` passes every check an ingest makes of it that depends on nothing but the op
    and the schema: its route, its kind's shape and the schema's validators. A hub runs this
    before a push's write transaction — the validators are the costliest part of ingesting a
    record, and they need not hold the writers — then ingests what passes with
    ``schema_checked``; an op that fails is ingested as usual, which quarantines it and says why."""
    try:
        _validated(op, registry)
    except (InvalidOp, *_MALFORMED):
        return False
    return True


def ingest(storage: ReplicaStorage, ops: Iterable[Op], now_ms: int, *, schema_checked: bool = False) -> IngestResult:
    """Fold a batch of ops into the replica. Idempotent: ops already held change nothing, and an
    op already quarantined is reported again with its reason.

    ``schema_checked``: the ops' values were validated against the schema already — by the
    replica that accepted them (a device pulling from its hub: one whose schema is older or newer
    than the hub's then holds what the hub holds, rather than quarantining it and diverging), or
    by the caller, outside its write transaction (:func:`passes_schema`, :func:`author_many`).
    The schema's validators are skipped; what the store and the merge rely on — route, action,
    refs, the shape a kind needs, the clock bound — is still checked."""
    return _fold(storage, ops, now_ms, frozenset(), schema_checked)


def rebuild(storage: ReplicaStorage, entities: Iterable[tuple[str, str]], ops: Iterable[Op], now_ms: int,
            unacknowledged: Iterable[Op] = (), *, schema_checked: bool = False) -> IngestResult:
    """Reset these (entity, eid) to the state ``ops`` build from nothing — another replica's whole
    history of them, which may leave out writes it holds as superseded — then fold back on top
    ``unacknowledged``: this node's ops of them that the other replica has not seen yet.

    What this replica held of those entities before counts for nothing, so state the other replica
    superseded while this one was not following them (an overwritten value kept as a conflict, a
    set member removed) goes. Ops not held yet join the log as ``ingest`` adds them; ops of other
    entities are ingested as usual. Idempotent, like ``ingest``. The storage's ``drop`` and
    ``save`` must run in one transaction."""
    reset = set(entities)
    storage.drop(sorted(reset))
    mine = [op for op in unacknowledged if (op.entity, op.eid) in reset]
    return _fold(storage, [*ops, *mine], now_ms, reset, schema_checked)


def _fold(storage: ReplicaStorage, ops: Iterable[Op], now_ms: int, reset: Set[tuple[str, str]],
          schema_checked: bool = False) -> IngestResult:
    """Ingest ``ops``; those already held that belong to an entity in ``reset`` (whose registers
    were just dropped) are merged again, without being stored twice."""
    result = IngestResult()
    ops = ops if isinstance(ops, list | tuple) else list(ops)
    fresh: dict[tuple[str, int], Op] = dict(zip(map(_ID, ops), ops, strict=True))
    if len(fresh) != len(ops):
        # The same id twice in one batch: the first one counts, as if the others came later.
        fresh = {}
        for op in ops:
            op_id = (op.node, op.counter)
            if op_id in fresh:
                result.duplicates += 1
            else:
                fresh[op_id] = op
    refold: list[Op] = []
    for op_id, rejection in storage.held(list(fresh)).items():
        op = fresh.pop(op_id)
        if rejection is None:
            result.duplicates += 1
            if (op.entity, op.eid) in reset:
                refold.append(op)
        else:
            result.rejected.append((OpId(*op_id), rejection))
    return _merge(storage, fresh, refold, now_ms, result, schema_checked)


def _merge(storage: ReplicaStorage, fresh: Mapping[tuple[str, int], Op], refold: Sequence[Op], now_ms: int,
           result: IngestResult, schema_checked: bool = False,
           released: Sequence[tuple[str, int]] = ()) -> IngestResult:
    """Check ``fresh`` (ops not held yet, by id), merge those that pass with ``refold`` and save
    the batch with ``released`` (see ``ReplicaStorage.save``); what is decided is added to ``result``."""
    groups: dict[RegisterKey, list[Op]] = {}
    specs: dict[RegisterKey, FieldSpec] = {}
    quarantined: list[tuple[Op, Rejection]] = []
    latest = hlc_.latest_allowed(now_ms, storage.max_ahead_ms)
    registry = storage.registry
    routes = registry.routes
    for op in fresh.values():
        _, _, hlc, entity, eid, action, field_name, _, _ = op
        try:
            # Registry.route's lookup, inline: one call less for every op.
            found = routes.get((entity, field_name))
            if found is None or (action == DELETE and found[0] != "append"):
                key, spec = registry.route(op)  # raises, naming what does not fit
                kind = key.kind
            else:
                kind, spec = found
                key = new_key((kind, entity, eid, field_name))
            _VALIDATE[kind](op, _unvalidated(spec) if schema_checked else spec)
            if hlc > latest:
                hlc_.check_ahead(hlc, now_ms, storage.max_ahead_ms)  # raises, with the figures
        except InvalidOp as exc:
            quarantined.append((op, Rejection(exc.field, exc.reason)))
            continue
        except ClockSkewError as exc:
            quarantined.append((op, Rejection("hlc", exc.message, clock_ahead=True)))
            continue
        except _MALFORMED as exc:
            quarantined.append((op, Rejection(op.field or "value", f"malformed value: {exc}")))
            continue
        batch = groups.get(key)
        if batch is None:
            groups[key] = [op]
            specs[key] = spec
        else:
            batch.append(op)
    accepted_ids: Mapping[tuple[str, int], Any] | Set[tuple[str, int]]
    if quarantined:
        accepted_ids = fresh.keys() - {(op.node, op.counter) for op, _ in quarantined}
        accepted = [op for op_id, op in fresh.items() if op_id in accepted_ids]
    else:
        accepted_ids = fresh
        accepted = list(fresh.values())
    clock = max(storage.clock(), max(map(_HLC, accepted), default=0))
    for op in refold:
        # Merged again into its emptied register, not stored again.
        try:
            key, spec = registry.route(op)
        except InvalidOp:
            continue  # accepted under a schema that had its field: it belongs to no register now
        groups.setdefault(key, []).append(op)
        specs[key] = spec

    def arrived(op_id: tuple[str, int]) -> bool:
        # An op of this very batch counts as arrived even for another register's merge: what
        # the replica holds after the batch must not depend on how ops were cut into batches.
        return op_id in accepted_ids or storage.arrived(op_id)

    current = storage.load(list(groups))
    current_of = current.get
    contexts: dict[int, MergeContext] = {}
    registers = {}
    # specs holds the same keys as groups, in the same order.
    for (key, batch), spec in zip(groups.items(), specs.values(), strict=True):
        context = contexts.get(id(spec))
        if context is None:
            context = contexts[id(spec)] = MergeContext(spec, arrived)
        registers[key] = _MERGE[key.kind](current_of(key), batch, context)
    storage.save(accepted, registers, quarantined, clock, released)
    result.accepted = [op_id for op_id in fresh if op_id in accepted_ids] if quarantined else list(fresh)
    result.rejected.extend((op.id, rejection) for op, rejection in quarantined)
    return result


def release(storage: ReplicaStorage, now_ms: int, limit: int) -> IngestResult:
    """Fold in the ops held in quarantine only because their timestamp lay too far ahead, now
    that the clock (``now_ms``) has caught up so they lie within the bound: at most ``limit``,
    earliest first. Each is checked again as if it had just arrived — under a schema changed
    meanwhile it is quarantined for that reason instead — and leaves quarantine in the ``save``
    that merges it: a release is all or nothing, and one run again finds nothing left to do."""
    due = storage.waiting(hlc_.latest_allowed(now_ms, storage.max_ahead_ms), limit)
    if not due:
        return IngestResult()
    # Not asked of ``held``: a quarantined op is never accepted too, and leaves quarantine only here.
    return _merge(storage, {(op.node, op.counter): op for op in due}, [], now_ms, IngestResult(),
                  released=[(op.node, op.counter) for op in due])


def quarantine(storage: ReplicaStorage, rejected: Iterable[tuple[Op, Rejection]]) -> list[tuple[OpId, Rejection]]:
    """Keep ops refused by a rule outside the engine (a device's write policy) in quarantine,
    like any invalid op: reported back now, and again if they are sent again. Ops already held
    are left as they are."""
    pairs = list(rejected)
    held = storage.held([(op.node, op.counter) for op, _ in pairs])
    fresh = [(op, rejection) for op, rejection in pairs if (op.node, op.counter) not in held]
    if fresh:
        storage.save([], {}, fresh, storage.clock())
    reported = [(OpId(*op_id), r) for op_id, r in held.items() if r is not None]
    return reported + [(op.id, rejection) for op, rejection in fresh]


def author(storage: ReplicaStorage, now_ms: int, entity: str, eid: str, action: str,
           field: str = ENTITY_FIELD, value: Any = None, refs: Sequence[OpId] = ()) -> Op:
    """Create this node's next op and fold it in. ``refs`` is worked out here where the kind
    needs it (the heads an lww write overwrites, the tags a set remove cancels); pass it only
    for a void. Raises InvalidOp (nothing is stored) if the op is not valid."""
    return author_many(storage, now_ms, [(entity, eid, action, field, value, refs)])[0]


def author_many(storage: ReplicaStorage, now_ms: int, changes: Iterable[Sequence[Any]]) -> list[Op]:
    """Author several ops, each as :func:`author` would one after another — each change is its
    arguments after ``now_ms``: (entity, eid, action[, field[, value[, refs]]]) — folded in as
    one batch: an engine's round writes a hundred ops at a time, and a hundred one-op ingests
    cost several times one ingest of a hundred. A write whose refs depend on a register an
    earlier change of the batch touched folds in what came before it first. Raises InvalidOp
    on the first change that is not valid; the storage's transaction then keeps none of them."""
    registry = storage.registry
    authored: list[Op] = []
    batch: list[Op] = []
    touched: set[RegisterKey] = set()
    clock = storage.clock()
    counter = storage.next_counter()
    latest_now = now_ms

    def fold() -> None:
        result = ingest(storage, batch, latest_now, schema_checked=True)  # check() ran on each, whole
        if result.rejected:
            _, rejection = result.rejected[0]
            raise InvalidOp(rejection.field, rejection.reason)
        batch.clear()
        touched.clear()

    for change in changes:
        entity, eid, action, field, value, refs = (*change, *_AUTHOR_DEFAULTS[len(change) - 3:])
        hlc = hlc_.tick(clock, now_ms)
        # The bound on how far ahead a timestamp may be guards against other nodes' clocks. This
        # node's HLC runs ahead of its wall clock only by what it already accepted (a clock set back
        # while offline, an NTP step): refusing its own next op would stop it recording anything
        # until its clock caught up, so its own op is measured against the later of the two.
        op_now = max(now_ms, hlc_.wall_ms(hlc))
        op = Op(storage.node, counter, hlc, entity, eid, action, field, value, tuple(refs))
        key, _spec = registry.route(op)
        require_action(op, KINDS[key.kind].actions, key.kind)
        if action in (SET, REMOVE):
            if key in touched:
                fold()
            register = storage.load([key]).get(key)
            if action == SET:
                refs = KINDS["lww"].refs_for_write(register)  # type: ignore[attr-defined]
            else:
                refs = KINDS["set"].refs_for_remove(register, value)  # type: ignore[attr-defined]
                if not refs:
                    raise InvalidOp(field, f"{value!r} is not in the set")
            op = op._replace(refs=tuple(refs))
        check(op, registry, op_now, storage.max_ahead_ms)
        batch.append(op)
        authored.append(op)
        touched.add(key)
        clock, counter, latest_now = hlc, counter + 1, max(latest_now, op_now)
    if batch:
        fold()
    return authored


# What a change given to author_many leaves out: (field, value, refs) as author's defaults.
_AUTHOR_DEFAULTS: tuple[Any, ...] = (ENTITY_FIELD, None, ())


def conflicts_of(registers: Iterable[tuple[RegisterKey, Any]]) -> list[Conflict]:
    found: list[Conflict] = []
    for key, register in registers:
        found.extend(KINDS[key.kind].conflicts(key, register))
    return found


def canonical_dump(registers: Iterable[tuple[RegisterKey, Any]], conflicts: Iterable[Conflict]) -> bytes:
    """The merged state as bytes that are equal exactly when two replicas agree."""
    rows = []
    for key, register in sorted(registers, key=lambda kr: (kr[0].entity, kr[0].eid, kr[0].field)):
        if KINDS[key.kind].is_empty(register):
            # A set emptied by removes, an lww field whose every write is overwritten by writes
            # in transit: reads as nothing, exactly like a register never created.
            continue
        if getattr(register, "pending", None):
            # Pending ids are bookkeeping about ops not held yet. For honest authors they agree
            # too, but a forged ref to another field's op can leave a stale, harmless entry on
            # one replica and not another: it never changes a value, so it is not compared.
            register = register._replace(pending=frozenset())
        value, meta = KINDS[key.kind].encode(register)
        rows.append([key.kind, key.entity, key.eid, key.field, value, meta])
    conflict_rows = sorted((conflict.to_json() for conflict in conflicts), key=dumps)
    return dumps({"registers": rows, "conflicts": conflict_rows})


def entity_view(registers: Iterator[tuple[RegisterKey, Any]]) -> dict[str, Any]:
    """One entity's registers read as a plain dict of field -> value, plus ``_deleted``/record."""
    view: dict[str, Any] = {}
    for key, register in registers:
        value = KINDS[key.kind].read(register)
        if key.kind == "tombstone":
            view["_deleted"] = value
        elif key.kind == "append":
            view.update(value or {})
        else:
            view[key.field] = value
    return view
