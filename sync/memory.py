"""A replica held in memory: the reference the SQLite store is checked against, and the fast
replica that property tests and the fault simulator run by the thousand.

``merge(state, ops)`` is the functional form: it returns a new replica and leaves the old one
as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import replica
from .hlc import DEFAULT_MAX_AHEAD_MS
from .kinds import Conflict
from .ops import Op, OpId
from .registry import RegisterKey, Registry
from .replica import IngestResult, Rejection


class MemoryReplica:
    def __init__(self, node: str, registry: Registry, max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS) -> None:
        self.node = node
        self.registry = registry
        self.max_ahead_ms = max_ahead_ms
        self.ops: dict[OpId, Op] = {}
        self.registers: dict[RegisterKey, Any] = {}
        self.quarantine: dict[OpId, tuple[Op, Rejection]] = {}
        self.contiguous: dict[str, int] = {}
        self._clock = 0

    # -- ReplicaStorage -------------------------------------------------------------------
    def held(self, ids: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Rejection | None]:
        found: dict[tuple[str, int], Rejection | None] = {}
        for op_id in ids:
            if op_id in self.ops:
                found[op_id] = None
            elif op_id in self.quarantine:
                found[op_id] = self.quarantine[op_id][1]
        return found

    def arrived(self, op_id: tuple[str, int]) -> bool:
        return op_id in self.ops

    def load(self, keys: Sequence[RegisterKey]) -> dict[RegisterKey, Any]:
        return {key: self.registers[key] for key in keys if key in self.registers}

    def save(self, accepted: Sequence[Op], registers: Mapping[RegisterKey, Any],
             quarantined: Sequence[tuple[Op, Rejection]], clock: int,
             released: Sequence[tuple[str, int]] = ()) -> None:
        for op_id in released:
            del self.quarantine[OpId(*op_id)]
        for op in accepted:
            self.ops[op.id] = op
        for op, rejection in quarantined:
            self.quarantine[op.id] = (op, rejection)
        self.registers.update(registers)
        self._clock = clock
        for node in {op.node for op in (*accepted, *(q[0] for q in quarantined))}:
            counter = self.contiguous.get(node, 0)
            while OpId(node, counter + 1) in self.ops or OpId(node, counter + 1) in self.quarantine:
                counter += 1
            self.contiguous[node] = counter

    def waiting(self, latest: int, limit: int) -> list[Op]:
        due = [op for op, rejection in self.quarantine.values() if rejection.clock_ahead and op.hlc <= latest]
        return sorted(due, key=lambda op: op.order)[:limit]

    def drop(self, entities: Sequence[tuple[str, str]]) -> None:
        wanted = set(entities)
        for key in [key for key in self.registers if (key.entity, key.eid) in wanted]:
            del self.registers[key]

    def clock(self) -> int:
        return self._clock

    def next_counter(self) -> int:
        return self.contiguous.get(self.node, 0) + 1

    # -- replica API ----------------------------------------------------------------------
    def ingest(self, ops: Iterable[Op], now_ms: int) -> IngestResult:
        return replica.ingest(self, ops, now_ms)

    def rebuild(self, entities: Iterable[tuple[str, str]], ops: Iterable[Op], now_ms: int,
                unacknowledged: Iterable[Op] = ()) -> IngestResult:
        return replica.rebuild(self, entities, ops, now_ms, unacknowledged)

    def release(self, now_ms: int, limit: int = 1 << 30) -> IngestResult:
        return replica.release(self, now_ms, limit)

    def write(self, now_ms: int, entity: str, eid: str, action: str, field: str = "", value: Any = None,
              refs: Sequence[OpId] = ()) -> Op:
        return replica.author(self, now_ms, entity, eid, action, field, value, refs)

    def vector(self) -> dict[str, int]:
        return {node: counter for node, counter in self.contiguous.items() if counter}

    def max_counters(self) -> dict[str, int]:
        top: dict[str, int] = {}
        for node, counter in self.ops:
            top[node] = max(top.get(node, 0), counter)
        return top

    def ops_after(self, after: Mapping[str, int], limit: int) -> list[Op]:
        wanted = sorted(
            (op for op in self.ops.values() if op.counter > after.get(op.node, 0)),
            key=lambda op: (op.node, op.counter),
        )
        return wanted[:limit]

    def conflicts(self) -> list[Conflict]:
        return replica.conflicts_of(self.registers.items())

    def canonical(self) -> bytes:
        return replica.canonical_dump(self.registers.items(), self.conflicts())

    def entity(self, entity: str, eid: str) -> dict[str, Any]:
        return replica.entity_view(
            (key, reg) for key, reg in sorted(self.registers.items(), key=lambda kr: kr[0].field)
            if key.entity == entity and key.eid == eid
        )


def merge(state: MemoryReplica, ops: Iterable[Op], now_ms: int) -> MemoryReplica:
    """The replica that results from folding ``ops`` into ``state``; ``state`` is unchanged."""
    merged = copy.deepcopy(state)
    merged.ingest(ops, now_ms)
    return merged
