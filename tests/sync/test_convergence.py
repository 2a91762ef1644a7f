"""Replicas in real SQLite files converge to byte-identical state, whatever the network does."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import hlc
from sync.errors import TransportError
from sync.memory import MemoryReplica
from sync.ops import SET, Op, OpId
from sync.protocol import sync
from sync.store import SqliteReplica
from sync.transport import InMemoryTransport, LossyTransport
from sync.vv import dominates

from .model import FAR_FUTURE_MS, REGISTRY, history_on_the_wire_matches
from .strategies import T0, causal_ops, deliveries, op_sets


def open_replicas(folder: str, names):
    return [SqliteReplica.open(Path(folder) / f"{name}.db", name, REGISTRY) for name in names]


@given(st.data())
def test_three_sqlite_replicas_converge_byte_for_byte_whatever_the_delivery(data):
    ops = data.draw(op_sets())
    reference = MemoryReplica("reference", REGISTRY)
    reference.ingest(ops, FAR_FUTURE_MS)
    with tempfile.TemporaryDirectory() as folder:
        replicas = open_replicas(folder, ("r1", "r2", "r3"))
        try:
            for replica in replicas:
                for batch in data.draw(deliveries(ops)):
                    replica.ingest(batch, FAR_FUTURE_MS)
            dumps = {replica.canonical() for replica in replicas}
            assert dumps == {reference.canonical()}
            assert all(replica.vector() == reference.vector() for replica in replicas)
            quarantined = {op["id"] for op in replicas[0].quarantined()}
            assert quarantined == {str(op_id) for op_id in reference.quarantine}
        finally:
            for replica in replicas:
                replica.close()


@given(causal_ops(), st.data())
def test_a_sync_cut_after_any_batch_loses_nothing_and_resumes(ops, data):
    with tempfile.TemporaryDirectory() as folder:
        source, target = open_replicas(folder, ("a", "hub"))
        try:
            source.ingest(ops, FAR_FUTURE_MS)
            cut_after = data.draw(st.integers(0, 6))
            batch = data.draw(st.integers(1, 8))
            flaky = CutAfter(InMemoryTransport(target, lambda: FAR_FUTURE_MS), cut_after)
            try:
                sync(source, flaky, FAR_FUTURE_MS, batch_size=batch)
            except TransportError:
                pass
            # The target holds part of the source's log, never anything else.
            assert dominates(source.vector(), target.vector())
            assert target.op_count() <= source.op_count()
            sync(source, InMemoryTransport(target, lambda: FAR_FUTURE_MS), FAR_FUTURE_MS, batch_size=batch)
            assert target.canonical() == source.canonical()
            assert target.op_count() == source.op_count() == len(ops)
        finally:
            source.close()
            target.close()


def rename(op: Op, node: str) -> Op:
    return op._replace(node=node, refs=tuple(OpId(node, ref.counter) for ref in op.refs))


class CutAfter:
    """Carries ``requests`` round trips, then the connection dies for good."""

    def __init__(self, inner, requests: int) -> None:
        self.inner = inner
        self.left = requests

    def request(self, message: bytes) -> bytes:
        if self.left <= 0:
            raise TransportError("connection cut")
        self.left -= 1
        return self.inner.request(message)


@given(st.lists(causal_ops(replicas=1, max_steps=12), min_size=3, max_size=3), st.integers(0, 2**32 - 1))
def test_devices_syncing_through_a_lossy_network_converge_once_it_heals(histories, seed):
    with tempfile.TemporaryDirectory() as folder:
        hub, *devices = open_replicas(folder, ("hub", "d1", "d2", "d3"))
        try:
            for device, history in zip(devices, histories, strict=True):
                # Each device authored its own history; rename its node so the three are distinct.
                device.ingest([rename(op, device.node) for op in history], FAR_FUTURE_MS)
            links = [LossyTransport(hub, lambda: FAR_FUTURE_MS, seed + i) for i in range(len(devices))]
            for _round in range(4):
                for device, link in zip(devices, links, strict=True):
                    try:
                        sync(device, link, FAR_FUTURE_MS, batch_size=3)
                    except TransportError:
                        pass
            for link in links:
                link.flush()
            for _round in range(2):
                for device in devices:
                    sync(device, InMemoryTransport(hub, lambda: FAR_FUTURE_MS), FAR_FUTURE_MS, batch_size=3)
            assert {replica.canonical() for replica in (hub, *devices)} == {hub.canonical()}
            total = sum(len(history) for history in histories)
            assert hub.op_count() == total
        finally:
            for replica in (hub, *devices):
                replica.close()


def test_an_hlc_beyond_the_bound_is_quarantined_and_cannot_win(tmp_path):
    now = T0
    bound = hlc.DEFAULT_MAX_AHEAD_MS
    replica = SqliteReplica.open(tmp_path / "hub.db", "hub", REGISTRY)
    honest = Op("a", 1, hlc.pack(now - 1000), "job", "j1", SET, "title", "Fix AC")
    from_2099 = Op("b", 1, hlc.pack(4_070_908_800_000), "job", "j1", SET, "title", "I am from 2099")
    at_the_bound = Op("c", 1, hlc.pack(now + bound), "job", "j2", SET, "title", "a little fast")
    result = replica.ingest([honest, from_2099, at_the_bound], now)
    assert replica.entity("job", "j1")["title"] == "Fix AC"
    assert replica.entity("job", "j2")["title"] == "a little fast"
    assert [(str(op_id), r.field) for op_id, r in result.rejected] == [("b:1", "hlc")]
    assert "ahead of this replica's clock" in replica.quarantined()[0]["reason"]
    # Sent again, it is reported again with its reason rather than silently counted as held.
    again = replica.ingest([from_2099], now)
    assert [str(op_id) for op_id, _ in again.rejected] == ["b:1"]
    # The local clock did not follow the skewed device into the future.
    assert hlc.wall_ms(replica.clock()) <= now + bound
    replica.close()


@given(op_sets())
def test_the_sqlite_replica_survives_reopening(ops):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.db"
        with SqliteReplica.open(path, "r", REGISTRY) as replica:
            replica.ingest(ops, FAR_FUTURE_MS)
            before, vector, clock = replica.canonical(), replica.vector(), replica.clock()
        with SqliteReplica.open(path, None, REGISTRY) as reopened:
            assert reopened.canonical() == before
            assert reopened.vector() == vector
            assert reopened.clock() == clock
            assert reopened.ingest(ops, FAR_FUTURE_MS).accepted == []


def test_opening_a_replica_as_another_node_is_refused(tmp_path):
    SqliteReplica.open(tmp_path / "r.db", "tablet-1", REGISTRY).close()
    with pytest.raises(ValueError, match="replica of node 'tablet-1'"):
        SqliteReplica.open(tmp_path / "r.db", "tablet-2", REGISTRY)


@given(op_sets())
def test_history_ops_rebuild_the_same_state_on_a_replica_that_never_saw_the_entities(ops):
    """What the hub sends a device when a job enters its scope: enough to agree, no more."""
    with tempfile.TemporaryDirectory() as folder:
        hub, device = open_replicas(folder, ("hub", "device"))
        try:
            hub.ingest(ops, FAR_FUTURE_MS)
            entities = {(op.entity, op.eid) for op in ops}
            history = hub.history_ops(entities)
            # Each sent once, and exactly as authored: some kinds rebuild their ops from the
            # register rather than read them from the log.
            authored = {op.id: op for op in ops}
            assert len({op.id for op in history}) == len(history)
            assert all(op == authored[op.id] for op in history)
            assert history_on_the_wire_matches(hub, entities)
            device.ingest(history, FAR_FUTURE_MS)
            assert device.canonical() == hub.canonical()
        finally:
            hub.close()
            device.close()
