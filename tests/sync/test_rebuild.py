"""An entity that comes back into a device's scope is reset to the hub's state: whatever the
device held of it before, rebuilding from the hub's history of it gives what the hub has — plus
the device's own work the hub has not seen yet, merged as the hub will merge it."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sync import replica as core
from sync.errors import InvalidOp
from sync.hlc import pack
from sync.memory import MemoryReplica
from sync.ops import ADD, INCR, MOVE, REMOVE, SET, Op
from sync.store import SqliteReplica

from .model import FAR_FUTURE_MS, REGISTRY
from .strategies import JOBS, STATES, T0, TAGS, TITLES, op_sets


def memory_canonical(replica: MemoryReplica, entities) -> bytes:
    wanted = set(entities)
    registers = [(key, register) for key, register in replica.registers.items() if (key.entity, key.eid) in wanted]
    return core.canonical_dump(registers, [c for c in replica.conflicts() if (c.entity, c.eid) in wanted])


def subset(data, items):
    kept = data.draw(st.lists(st.booleans(), min_size=len(items), max_size=len(items)))
    return [item for item, keep in zip(items, kept, strict=True) if keep]


def scoped(data, ops):
    """Some of the ops' entities: those that come back into the device's scope."""
    return subset(data, sorted({(op.entity, op.eid) for op in ops}))


@contextmanager
def hub_and_device() -> Iterator[tuple[SqliteReplica, SqliteReplica]]:
    with tempfile.TemporaryDirectory() as folder:
        hub = SqliteReplica.open(Path(folder) / "hub.db", "hub", REGISTRY)
        device = SqliteReplica.open(Path(folder) / "device.db", "device", REGISTRY)
        try:
            yield hub, device
        finally:
            hub.close()
            device.close()


@given(op_sets(), st.data())
def test_rebuilding_from_the_hubs_history_gives_the_hubs_state_whatever_the_device_held(ops, data):
    held = subset(data, ops)
    entities = scoped(data, ops)
    with hub_and_device() as (hub, device):
        hub.ingest(ops, FAR_FUTURE_MS)
        memory = MemoryReplica("device", REGISTRY)
        for replica in (device, memory):
            replica.ingest(held, FAR_FUTURE_MS)
        history = hub.history_ops(entities)
        log = {op.id for op in device.ops_after({}, 10_000)}
        device.rebuild(entities, history, FAR_FUTURE_MS)
        memory.rebuild(entities, history, FAR_FUTURE_MS)
        assert device.canonical(entities) == hub.canonical(entities)
        assert memory_canonical(memory, entities) == hub.canonical(entities)
        # The device's log gained what it lacked and lost nothing; a second rebuild changes nothing.
        assert {op.id for op in device.ops_after({}, 10_000)} == log | {op.id for op in history}
        before = device.canonical()
        device.rebuild(entities, history, FAR_FUTURE_MS)
        assert device.canonical() == before


def work(data, device: SqliteReplica, now_ms: int) -> None:
    """A few edits the technician makes on the device (refused edits record nothing)."""
    for _ in range(data.draw(st.integers(0, 4))):
        job = data.draw(st.sampled_from(JOBS))
        change = data.draw(st.sampled_from([
            (SET, "title", data.draw(st.sampled_from(TITLES))), (SET, "notes", "seen on site"),
            (INCR, "stock", -1), (MOVE, "status", data.draw(st.sampled_from(STATES[:-1]))),
            (ADD, "tags", data.draw(st.sampled_from(TAGS))), (REMOVE, "tags", data.draw(st.sampled_from(TAGS))),
        ]))
        try:
            device.write(now_ms, "job", job, *change)
        except InvalidOp:
            pass


@given(op_sets(), st.data())
def test_the_devices_own_work_the_hub_has_not_seen_is_kept_on_top_as_the_hub_will_merge_it(ops, data):
    held = subset(data, ops)
    with hub_and_device() as (hub, device):
        device.ingest(held, FAR_FUTURE_MS)
        work(data, device, T0 + 100)
        pushed = device.ops_after({}, 10_000)
        hub.ingest([*ops, *(op for op in pushed if op.node == "device")], FAR_FUTURE_MS)
        acknowledged = device.max_counters().get("device", 0)
        work(data, device, T0 + 200)  # after the push: the hub has not seen these
        unacknowledged = device.ops_after({**device.max_counters(), "device": acknowledged}, 10_000)
        entities = scoped(data, [*ops, *unacknowledged])
        device.rebuild(entities, hub.history_ops(entities), FAR_FUTURE_MS, unacknowledged)
        hub.ingest(unacknowledged, FAR_FUTURE_MS)
        assert device.canonical(entities) == hub.canonical(entities)


# Writes a and b conflict; c:1 saw both and resolved the conflict.
A = Op("a", 1, pack(T0, 0), "job", "j1", SET, "title", "A")
B = Op("b", 1, pack(T0, 0), "job", "j1", SET, "title", "B")
RESOLVING = Op("c", 1, pack(T0 + 1, 0), "job", "j1", SET, "title", "R", (B.id, A.id))


def test_a_resolved_conflict_whose_resolving_write_is_current_is_sent_as_that_write_alone():
    with hub_and_device() as (hub, device):
        hub.ingest([A, B, RESOLVING], FAR_FUTURE_MS)
        history = hub.history_ops([("job", "j1")])
        assert history == [RESOLVING]
        device.rebuild([("job", "j1")], history, FAR_FUTURE_MS)
        assert device.canonical() == hub.canonical()


def test_a_resolved_conflict_later_overwritten_twice_rebuilds_without_a_phantom_conflict():
    overwritten = Op("c", 2, pack(T0 + 2, 0), "job", "j1", SET, "title", "X", (RESOLVING.id,))
    latest = Op("c", 3, pack(T0 + 3, 0), "job", "j1", SET, "title", "H", (overwritten.id,))
    with hub_and_device() as (hub, device):
        hub.ingest([A, B, RESOLVING, overwritten, latest], FAR_FUTURE_MS)
        device.rebuild([("job", "j1")], hub.history_ops([("job", "j1")]), FAR_FUTURE_MS)
        assert device.canonical() == hub.canonical()
