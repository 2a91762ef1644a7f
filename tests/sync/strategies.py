"""Hypothesis strategies for op sets: honest causal histories and adversarial arbitrary ones."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import strategies as st

from sync.errors import InvalidOp
from sync.hlc import pack
from sync.memory import MemoryReplica
from sync.ops import ADD, APPEND, DELETE, INCR, MOVE, REMOVE, SET, VOID, Op, OpId

from .model import JOB_MACHINE, REGISTRY

T0 = 1_800_000_000_000  # 2027-01-15, well inside any bound the tests set
NODES = ("a", "b", "c", "d")
JOBS = ("j1", "j2")
LOGS = ("t1", "t2", "t3")
STATES = sorted(JOB_MACHINE.states) + ["bogus"]  # "bogus" is quarantined
TITLES = ("Fix AC", "Replace pump", "Inspect boiler", None)
TAGS = ("hvac", "gas", "electrical")
DELTAS = (-3, -1, 1, 2, 5, "0.5", "-1.25", "999999999999.999999", "-0.000001")


@st.composite
def arbitrary_ops(draw, max_ops: int = 40) -> list[Op]:
    """Any set of ops with unique ids: ties in HLC, refs to anything (or nothing that exists),
    some invalid ops. Merge must still be a function of the set."""
    count = draw(st.integers(1, max_ops))
    counters: dict[str, int] = defaultdict(int)
    ids: list[OpId] = []
    ops: list[Op] = []

    def refs(max_size: int) -> tuple[OpId, ...]:
        pool = st.sampled_from(ids + [OpId("ghost", 7)]) if ids else st.just(OpId("ghost", 7))
        return tuple(dict.fromkeys(draw(st.lists(pool, max_size=max_size))))

    for _ in range(count):
        node = draw(st.sampled_from(NODES))
        counters[node] += 1
        hlc = pack(T0 + draw(st.integers(0, 20)), draw(st.integers(0, 2)))
        head = (node, counters[node], hlc)
        job = draw(st.sampled_from(JOBS))
        what = draw(st.sampled_from(("lww", "lww", "counter", "status", "add", "remove", "append", "void", "delete")))
        if what == "lww":
            op = Op(*head, "job", job, SET, draw(st.sampled_from(("title", "notes"))),
                    draw(st.sampled_from(TITLES)), refs(3))
        elif what == "counter":
            op = Op(*head, "job", job, INCR, "stock", draw(st.sampled_from(DELTAS)))
        elif what == "status":
            op = Op(*head, "job", job, MOVE, "status", draw(st.sampled_from(STATES)))
        elif what == "add":
            op = Op(*head, "job", job, ADD, "tags", draw(st.sampled_from(TAGS)))
        elif what == "remove":
            op = Op(*head, "job", job, REMOVE, "tags", draw(st.sampled_from(TAGS)), refs(3))
        elif what == "append":
            op = Op(*head, "time_log", draw(st.sampled_from(LOGS)), APPEND, "", {"minutes": draw(st.integers(0, 90))})
        elif what == "void":
            op = Op(*head, "time_log", draw(st.sampled_from(LOGS)), VOID, "", None, refs(1) or (OpId("ghost", 1),))
        else:
            op = Op(*head, "job", job, DELETE)
        ops.append(op)
        ids.append(op.id)
    return ops


@st.composite
def causal_ops(draw, replicas: int = 3, max_steps: int = 30) -> list[Op]:
    """Ops as real devices make them: local writes with refs worked out by the replica, and
    partial syncs between them, with clocks that stand still, jump, and differ per device."""
    nodes = NODES[:replicas]
    peers = {node: MemoryReplica(node, REGISTRY) for node in nodes}
    offsets = {node: draw(st.integers(-5_000, 5_000)) for node in nodes}
    now = T0
    for _ in range(draw(st.integers(1, max_steps))):
        now += draw(st.sampled_from((0, 0, 1, 7, 1000)))
        node = draw(st.sampled_from(nodes))
        peer = peers[node]
        local_now = now + offsets[node]
        step = draw(st.sampled_from(("sync", "lww", "lww", "counter", "status", "add", "remove", "append", "void")))
        job = draw(st.sampled_from(JOBS))
        try:
            if step == "sync":
                other = peers[draw(st.sampled_from(nodes))]
                limit = draw(st.integers(1, 50))
                peer.ingest(other.ops_after(peer.vector(), limit), local_now)
            elif step == "lww":
                peer.write(local_now, "job", job, SET, draw(st.sampled_from(("title", "notes"))),
                           draw(st.sampled_from(TITLES)))
            elif step == "counter":
                peer.write(local_now, "job", job, INCR, "stock", draw(st.sampled_from(DELTAS)))
            elif step == "status":
                peer.write(local_now, "job", job, MOVE, "status", draw(st.sampled_from(STATES[:-1])))
            elif step == "add":
                peer.write(local_now, "job", job, ADD, "tags", draw(st.sampled_from(TAGS)))
            elif step == "remove":
                peer.write(local_now, "job", job, REMOVE, "tags", draw(st.sampled_from(TAGS)))
            elif step == "append":
                peer.write(local_now, "time_log", draw(st.sampled_from(LOGS)), APPEND,
                           value={"minutes": draw(st.integers(1, 90))})
            else:
                records = [op for op in peer.ops.values() if op.entity == "time_log"]
                if records:
                    target = draw(st.sampled_from(sorted(records)))
                    peer.write(local_now, "time_log", target.eid, VOID, refs=[target.id], value="mistake")
        except InvalidOp:
            pass  # e.g. removing a tag this device has not seen: the agent refuses, nothing is stored
    everything: dict[OpId, Op] = {}
    for peer in peers.values():
        everything.update(peer.ops)
    return sorted(everything.values())


def op_sets() -> st.SearchStrategy[list[Op]]:
    return st.one_of(causal_ops(), arbitrary_ops())


@st.composite
def deliveries(draw, ops: list[Op]) -> list[list[Op]]:
    """One way the network might hand ``ops`` over: any order, some twice, cut into batches."""
    order = draw(st.permutations(ops))
    repeats = draw(st.lists(st.sampled_from(ops), max_size=len(ops))) if ops else []
    stream = list(order) + repeats
    stream = draw(st.permutations(stream))
    batches, start = [], 0
    while start < len(stream):
        size = draw(st.integers(1, max(1, len(stream))))
        batches.append(stream[start:start + size])
        start += size
    return batches
