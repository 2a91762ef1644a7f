"""The PostgreSQL replica store: the same state, byte for byte, as the in-memory and SQLite
replicas for any delivery of the same ops; and what sharing one schema between processes asks of
it — nothing remembered across transactions, writers one at a time so a cursor never skips."""

from __future__ import annotations

import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.memory import MemoryReplica
from sync.ops import SET, Op
from sync.store import SqliteReplica
from sync.store.postgres import PostgresReplica
from sync.store.sql import ReadOnlyTransaction

from ..sync.model import FAR_FUTURE_MS, REGISTRY, history_on_the_wire_matches
from ..sync.strategies import T0, deliveries, op_sets
from .schemas import Schemas

# Every example builds a schema and its tables (~0.3 s): fewer examples, run with the slow suites.
FEWER = settings(max_examples=40)


@contextmanager
def replicas(*nodes: str):
    """A PostgreSQL replica in a fresh schema per node, dropped afterwards."""
    made = Schemas()
    opened = []
    try:
        for node in nodes:
            opened.append(PostgresReplica.open(made.new(), node, REGISTRY))
        yield opened
    finally:
        for replica in opened:
            replica.close()
        made.drop()


@pytest.mark.slow
@FEWER
@given(st.data())
def test_the_postgresql_replica_agrees_byte_for_byte_with_memory_and_sqlite_whatever_the_delivery(data):
    ops = data.draw(op_sets())
    reference = MemoryReplica("reference", REGISTRY)
    reference.ingest(ops, FAR_FUTURE_MS)
    with replicas("pg") as (pg,), tempfile.TemporaryDirectory() as folder:
        with SqliteReplica.open(Path(folder) / "r.db", "lite", REGISTRY) as lite:
            for replica in (pg, lite):
                for batch in data.draw(deliveries(ops)):
                    replica.ingest(batch, FAR_FUTURE_MS)
            assert pg.canonical() == lite.canonical() == reference.canonical()
            assert pg.vector() == lite.vector() == reference.vector()
            assert pg.max_counters() == lite.max_counters()
            # Quarantine lists in order of arrival, which differs between the two deliveries.
            assert sorted(pg.quarantined(), key=repr) == sorted(lite.quarantined(), key=repr)
            assert pg.op_count() == lite.op_count()
            assert sorted(pg.conflicts(), key=repr) == sorted(lite.conflicts(), key=repr)
            assert pg.ops_after({}, 10_000) == lite.ops_after({}, 10_000)


@pytest.mark.slow
@FEWER
@given(op_sets(), st.integers(1, 7))
def test_pulling_since_a_cursor_returns_every_op_once_in_order(ops, window):
    with replicas("hub") as (hub,):
        for start in range(0, len(ops), 5):
            hub.ingest(ops[start:start + 5], FAR_FUTURE_MS)
        seen, cursor = [], 0
        while cursor < hub.log_end():
            got, cursor = hub.ops_since(cursor, window)
            if not got:
                break  # every op was quarantined: the log is empty
            seen.extend(got)
        held = {op.id for op in ops} - {tuple(q["op"][:2]) for q in hub.quarantined()}
        assert [op.id for op in seen] == [op.id for op in seen if op.id in held]
        assert {op.id for op in seen} == held and len(seen) == len(held)


@pytest.mark.slow
@FEWER
@given(op_sets())
def test_history_ops_rebuild_the_same_state_on_a_replica_that_never_saw_the_entities(ops):
    with replicas("hub", "device") as (hub, device):
        hub.ingest(ops, FAR_FUTURE_MS)
        entities = {(op.entity, op.eid) for op in ops}
        device.ingest(hub.history_ops(entities), FAR_FUTURE_MS)
        assert device.canonical() == hub.canonical()
        assert history_on_the_wire_matches(hub, entities)


def test_reopening_keeps_everything_and_another_node_is_refused(pg_url):
    op = Op("a", 1, T0 << 16, "job", "j1", SET, "title", "Fix AC")
    with PostgresReplica.open(pg_url, "hub", REGISTRY) as replica:
        replica.ingest([op], FAR_FUTURE_MS)
        mine = replica.write(T0, "job", "j1", SET, "title", "Fix the AC")
        before = replica.canonical()
    with PostgresReplica.open(pg_url, None, REGISTRY) as again:
        assert again.node == "hub" and again.canonical() == before
        assert again.clock() == mine.hlc and again.vector() == {"a": 1, "hub": 1}
        assert again.ingest([op], FAR_FUTURE_MS).duplicates == 1
    with pytest.raises(ValueError, match="replica of node 'hub'"):
        PostgresReplica.open(pg_url, "tablet-1", REGISTRY)


def test_a_schema_that_does_not_exist_is_named_with_the_fix():
    from .schemas import url_for

    with pytest.raises(ValueError, match="CREATE SCHEMA"):
        PostgresReplica.open(url_for("no_such_schema_here"), "hub", REGISTRY)


def test_two_processes_authoring_as_the_hub_never_reuse_a_counter_or_step_the_clock_back(pg_url):
    # Two gunicorn workers are two replica objects on one schema, both writing as node "hub".
    one = PostgresReplica.open(pg_url, "hub", REGISTRY)
    two = PostgresReplica.open(pg_url, None, REGISTRY)
    try:
        written = []
        for turn in range(6):
            writer = (one, two)[turn % 2]
            written.append(writer.write(T0 + turn, "job", f"j{turn % 3}", SET, "title", f"title {turn}"))
        assert [op.counter for op in written] == [1, 2, 3, 4, 5, 6]
        assert all(a.hlc < b.hlc for a, b in zip(written, written[1:], strict=False))
        # Each saw the other's writes as the heads it overwrote: no conflict was invented.
        assert one.conflicts() == [] and one.vector() == two.vector() == {"hub": 6}
        # A batch one of them ingests is a duplicate to the other at once.
        device_op = Op("dev-1", 1, T0 << 16, "job", "j9", SET, "title", "from a tablet")
        assert one.ingest([device_op], FAR_FUTURE_MS).accepted == [("dev-1", 1)]
        assert two.ingest([device_op], FAR_FUTURE_MS).duplicates == 1
    finally:
        one.close()
        two.close()


def _waiting_on_the_writer_lock(observer: PostgresReplica, pid: int) -> bool:
    row = observer.conn.execute(
        "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return row is not None and row[0] == "Lock" and row[1] == "advisory"


def test_a_writer_waits_for_the_one_before_it_so_a_cursor_never_skips_a_chunk(pg_url):
    first = PostgresReplica.open(pg_url, "hub", REGISTRY)
    second = PostgresReplica.open(pg_url, None, REGISTRY)
    reader = PostgresReplica.open(pg_url, None, REGISTRY)
    a = [Op("dev-a", n, (T0 << 16) + n, "job", f"a{n}", SET, "title", "a") for n in (1, 2)]
    b = [Op("dev-b", n, (T0 << 16) + n, "job", f"b{n}", SET, "title", "b") for n in (1, 2)]
    try:
        done = threading.Event()
        with first.transaction():
            first.ingest(a, FAR_FUTURE_MS)
            thread = threading.Thread(target=lambda: (second.ingest(b, FAR_FUTURE_MS), done.set()))
            thread.start()
            pid = second.conn.info.backend_pid
            # Bounded wait for the second writer to queue on the lock (no sleeps: poll the server).
            for _ in range(500):
                if _waiting_on_the_writer_lock(reader, pid):
                    break
                threading.Event().wait(0.01)
            assert _waiting_on_the_writer_lock(reader, pid), "the second writer did not wait for the first"
            # Neither batch is visible yet: a pull now moves no cursor past either.
            assert reader.ops_since(0, 100) == ([], 0)
            assert not done.is_set()
        thread.join(timeout=30)
        assert done.is_set()
        ops, cursor = reader.ops_since(0, 100)
        assert [op.node for op in ops] == ["dev-a", "dev-a", "dev-b", "dev-b"]
        assert cursor == reader.log_end()
    finally:
        for replica in (first, second, reader):
            replica.close()


def test_a_snapshot_reads_one_state_while_writers_go_on_and_cannot_write_ops(pg_url):
    writer = PostgresReplica.open(pg_url, "hub", REGISTRY)
    reader = PostgresReplica.open(pg_url, None, REGISTRY)
    try:
        writer.write(T0, "job", "j1", SET, "title", "before")
        with reader.snapshot():
            assert reader.entity("job", "j1") == {"title": "before"}
            writer.write(T0 + 1, "job", "j1", SET, "title", "after")  # not blocked by the reader
            assert reader.entity("job", "j1") == {"title": "before"}
            assert reader.vector() == {"hub": 1}
            with pytest.raises(ReadOnlyTransaction):
                reader.write(T0 + 2, "job", "j1", SET, "title", "from inside a snapshot")
        assert reader.entity("job", "j1") == {"title": "after"} and reader.vector() == {"hub": 2}
    finally:
        writer.close()
        reader.close()


def test_a_failed_transaction_leaves_nothing_and_forgets_what_it_read(pg_url):
    with PostgresReplica.open(pg_url, "hub", REGISTRY) as replica:
        replica.write(T0, "job", "j1", SET, "title", "kept")
        with pytest.raises(ZeroDivisionError), replica.transaction():
            replica.write(T0 + 1, "job", "j1", SET, "title", "rolled back")
            replica.ingest([Op("dev-x", 1, T0 << 16, "job", "j2", SET, "title", "x")], FAR_FUTURE_MS)
            raise ZeroDivisionError
        assert replica.entity("job", "j1") == {"title": "kept"} and replica.vector() == {"hub": 1}
        assert replica.write(T0 + 2, "job", "j1", SET, "title", "next").counter == 2
        assert replica.ingest([Op("dev-x", 1, T0 << 16, "job", "j2", SET, "title", "x")],
                              FAR_FUTURE_MS).accepted == [("dev-x", 1)]
