"""Reads of the op log through the decoded-chunk caches: whatever the batches and their order,
whatever a rollback undid, a SQLite replica answers from its log exactly what it holds."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.memory import MemoryReplica
from sync.ops import APPEND, SET, Op, OpId
from sync.store import SqliteReplica
from sync.store.sql import ChunkCache

from .model import FAR_FUTURE_MS, REGISTRY
from .strategies import T0, deliveries, op_sets


def _log(node: str, counter: int, minutes: int = 5) -> Op:
    return Op(node, counter, T0 + counter, "time_log", f"log-{node}-{counter}", APPEND, "", {"minutes": minutes})


@given(st.data())
def test_history_and_single_ops_read_back_whatever_batches_and_order_they_came_in(data):
    ops = data.draw(op_sets())
    batches = data.draw(deliveries(ops))
    with tempfile.TemporaryDirectory() as folder:
        hub = SqliteReplica.open(Path(folder) / "hub.db", "hub", REGISTRY)
        device = SqliteReplica.open(Path(folder) / "device.db", "device", REGISTRY)
        reference = MemoryReplica("hub", REGISTRY)
        reference.ingest(ops, FAR_FUTURE_MS)
        try:
            accepted: set[tuple[str, int]] = set()
            for batch in batches:
                accepted.update(hub.ingest(batch, FAR_FUTURE_MS).accepted)
            for op in ops:
                assert hub.get_op(op.id) == (op if op.id in accepted else None)
            entities = sorted({(op.entity, op.eid) for op in ops})
            page = data.draw(st.integers(1, max(1, len(entities))))
            for start in range(0, len(entities), page):  # as a bootstrap reads it, page after page
                device.ingest(hub.history_ops(entities[start:start + page]), FAR_FUTURE_MS)
            assert device.canonical() == hub.canonical()
            for batch in batches:  # everything again: all held already
                assert not hub.ingest(batch, FAR_FUTURE_MS).accepted
            assert hub.vector() == reference.vector()
        finally:
            hub.close()
            device.close()


def test_an_op_read_inside_a_rolled_back_transaction_is_not_served_afterwards(tmp_path):
    """SQLite gives the next chunk the seq a rolled-back chunk had: nothing decoded from the
    rolled-back one may answer for it."""
    replica = SqliteReplica.open(tmp_path / "hub.db", "hub", REGISTRY)
    try:
        with pytest.raises(RuntimeError), replica.transaction():
            replica.ingest([_log("tablet", 1, minutes=10)], FAR_FUTURE_MS)
            assert replica.get_op(OpId("tablet", 1)).value == {"minutes": 10}
            raise RuntimeError("the caller gave up")
        assert replica.get_op(OpId("tablet", 1)) is None
        replica.ingest([_log("tablet", 1, minutes=20)], FAR_FUTURE_MS)
        assert replica.get_op(OpId("tablet", 1)).value == {"minutes": 20}
    finally:
        replica.close()


def test_ops_arriving_out_of_order_over_many_batches_are_known_as_held_once_rolled_back_ones_are_not(tmp_path):
    replica = SqliteReplica.open(tmp_path / "device.db", "device", REGISTRY)
    try:
        odd = [_log("hub", counter) for counter in range(99, 0, -2)]
        for start in range(0, len(odd), 10):
            replica.ingest(odd[start:start + 10], FAR_FUTURE_MS)
        assert replica.ingest(odd, FAR_FUTURE_MS).duplicates == len(odd)
        with pytest.raises(RuntimeError), replica.transaction():
            replica.ingest([_log("hub", 2)], FAR_FUTURE_MS)
            raise RuntimeError("cut")
        even = [_log("hub", counter) for counter in range(2, 101, 2)]
        result = replica.ingest(even, FAR_FUTURE_MS)
        assert (len(result.accepted), result.duplicates) == (50, 0)
        assert replica.vector() == {"hub": 100}
    finally:
        replica.close()


class Missed(Exception):
    pass


def test_the_chunk_cache_keeps_at_most_its_capacity_and_gives_back_what_it_keeps():
    cache: ChunkCache[frozenset[int]] = ChunkCache(capacity=10)

    def probe(seq: int) -> frozenset[int] | None:
        def missed() -> frozenset[int]:
            raise Missed

        try:
            return cache.get(seq, missed)
        except Missed:
            return None

    for seq in range(100):
        assert cache.get(seq, lambda seq=seq: frozenset({seq, -seq - 1})) == {seq, -seq - 1}
    kept = {seq: entry for seq in range(100) if (entry := probe(seq)) is not None}
    assert len(kept) == 5 and 99 in kept
    assert all(entry == {seq, -seq - 1} for seq, entry in kept.items())
    too_big = frozenset(range(11))
    assert cache.get(500, lambda: too_big) is too_big and probe(500) is None
    cache.clear()
    assert all(probe(seq) is None for seq in range(100))


def test_the_history_of_more_entities_than_one_query_reads_is_whole(tmp_path):
    hub = SqliteReplica.open(tmp_path / "hub.db", "hub", REGISTRY)
    device = SqliteReplica.open(tmp_path / "device.db", "device", REGISTRY)
    try:
        logs = [_log("tablet", counter) for counter in range(1, 701)]
        titles = [Op("office", n, T0 + n, "job", f"job-{n}", SET, "title", f"job {n}") for n in range(1, 301)]
        hub.ingest(logs + titles, FAR_FUTURE_MS)
        entities = [(op.entity, op.eid) for op in logs + titles]
        history = hub.history_ops(entities + entities[:50])  # named twice: sent once
        assert sorted(history) == sorted(logs + titles)
        device.ingest(history, FAR_FUTURE_MS)
        assert device.canonical() == hub.canonical()
    finally:
        hub.close()
        device.close()
