"""``status``: a state machine whose state is the replay of every transition held.

Transitions are replayed from the machine's initial state in (HLC, node) order; one that is not
allowed from the state reached is skipped and kept as a conflict. Every replica replays the same
set in the same order, so they agree — even when two technicians move the same job offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..errors import InvalidOp
from ..hlc import order_key
from ..ops import MOVE, Op, OpId
from ..registry import FieldSpec, RegisterKey, StateMachine
from .base import Conflict, MergeContext, op_id_from_json, op_id_json, require_action, require_no_refs


class Transition(NamedTuple):
    hlc: int
    node: str
    counter: int
    target: str

    @property
    def id(self) -> OpId:
        return OpId(self.node, self.counter)


class Applied(NamedTuple):
    """One step of the replayed history: who moved it, from where, to where, when (HLC)."""

    op: OpId
    hlc: int
    source: str
    target: str


class StatusRegister(NamedTuple):
    transitions: tuple[Transition, ...]  # every transition held, in replay order
    state: str
    held: str | None  # the state to go back to from a resumable state (on hold)
    skipped: tuple[tuple[OpId, str], ...]


def replay(machine: StateMachine, transitions: Sequence[Transition],
           after: StatusRegister | None = None) -> tuple[StatusRegister, list[Applied]]:
    """Replay ``transitions`` from the machine's initial state, or, with ``after``, on from the
    state that register's transitions reached (``transitions`` then all come after its last)."""
    if after is None:
        state, held = machine.initial, None
        skipped: list[tuple[OpId, str]] = []
    else:
        state, held, skipped = after.state, after.held, list(after.skipped)
    history: list[Applied] = []
    for transition in transitions:
        step = machine.step(state, held, transition.target)
        if step is None:
            skipped.append((transition.id, f"cannot move from {state} to {transition.target}"))
            continue
        history.append(Applied(transition.id, transition.hlc, state, step[0]))
        state, held = step
    held_before = after.transitions if after is not None else ()
    return StatusRegister((*held_before, *transitions), state, held, tuple(skipped)), history


class Status:
    name = "status"
    actions = frozenset({MOVE})

    def validate(self, op: Op, spec: FieldSpec | None) -> None:
        require_action(op, self.actions, self.name)
        require_no_refs(op)
        assert spec is not None and spec.machine is not None  # guaranteed by Registry.add
        if not isinstance(op.value, str) or op.value not in spec.machine.states:
            raise InvalidOp(op.field, f"unknown state {op.value!r}; expected one of {sorted(spec.machine.states)}")

    def merge(self, register: StatusRegister | None, ops: Sequence[Op], ctx: MergeContext) -> StatusRegister:
        assert ctx.spec is not None and ctx.spec.machine is not None
        arriving = sorted((Transition(op.hlc, op.node, op.counter, op.value) for op in ops), key=_replay_order)
        if register is not None and register.transitions and \
                _replay_order(arriving[0]) > _replay_order(register.transitions[-1]):
            # The common case: moves that come after every one held (a job moving on through its
            # day) carry the replay on from where it stands, rather than replaying it all again.
            # Being later than the last, none of them is held already.
            return replay(ctx.spec.machine, arriving, after=register)[0]
        known = {(t.node, t.counter): t for t in register.transitions} if register else {}
        known.update(((t.node, t.counter), t) for t in arriving)
        return replay(ctx.spec.machine, sorted(known.values(), key=_replay_order))[0]

    def read(self, register: StatusRegister) -> str:
        return register.state

    def conflicts(self, key: RegisterKey, register: StatusRegister) -> list[Conflict]:
        return [
            Conflict(self.name, key.entity, key.eid, key.field, op_id, None, None, reason)
            for op_id, reason in register.skipped
        ]

    def is_empty(self, register) -> bool:
        return False

    def history(self, register: StatusRegister) -> list[tuple[str, int]]:
        return [(t.node, t.counter) for t in register.transitions]

    def history_ops(self, key: RegisterKey, register: Any) -> None:
        return None

    def encode(self, register: StatusRegister) -> tuple[Any, Any]:
        meta = {
            "t": [list(t) for t in register.transitions],
            "h": register.held,
            "s": [[op_id_json(op_id), reason] for op_id, reason in register.skipped],
        }
        return register.state, meta

    def decode(self, value: Any, meta: Any) -> StatusRegister:
        return StatusRegister(
            tuple(Transition(*t) for t in meta["t"]),
            value,
            meta["h"],
            tuple((op_id_from_json(op_id), reason) for op_id, reason in meta["s"]),
        )


def _replay_order(transition: Transition) -> Any:
    return order_key(transition.hlc, transition.node, transition.counter)


STATUS = Status()
