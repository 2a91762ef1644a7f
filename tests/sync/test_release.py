"""Ops quarantined only for a timestamp too far ahead are released once the receiver's clock has
caught up: the replica then holds exactly what it would had they arrived late, on every store,
however the releases are cut and interleaved with deliveries; ops refused by a rule stay."""

from __future__ import annotations

import dataclasses
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from sync import hlc
from sync.memory import MemoryReplica
from sync.ops import SET, Op
from sync.registry import Registry
from sync.replica import Rejection
from sync.store import SqliteReplica
from sync.store.sqlite import LAYOUT_VERSION

from .model import FAR_FUTURE_MS, REGISTRY
from .strategies import T0, deliveries, op_sets

# Small enough that the clocks drawn below leave some ops of any op set ahead, some not.
BOUND_MS = 5
# Milliseconds after T0 where the receiver's clock may stand: op sets stamp from a few seconds
# before T0 to half a minute after it (honest histories), or within its first 20 ms (arbitrary ones).
CLOCKS = st.one_of(st.integers(-6_000, 40_000), st.integers(-10, 25))


def ahead(counter: int, ms: int, field: str = "title", value: str = "from the future", node: str = "b") -> Op:
    """An op of ``node`` stamped ``ms`` after T0."""
    return Op(node, counter, hlc.pack(T0 + ms), "job", "j1", SET, field, value)


@contextmanager
def stores(folder: str, name: str):
    """The same replica in memory and in a SQLite file."""
    with SqliteReplica.open(Path(folder) / f"{name}.db", name, REGISTRY, max_ahead_ms=BOUND_MS) as lite:
        yield [MemoryReplica(name, REGISTRY, max_ahead_ms=BOUND_MS), lite]


def quarantine_of(replica) -> dict[str, bool]:
    """Op id -> whether it waits for the clock, for either store."""
    if isinstance(replica, MemoryReplica):
        return {str(op_id): rejection.clock_ahead for op_id, (_, rejection) in replica.quarantine.items()}
    return {row["id"]: row["clock_ahead"] for row in replica.quarantined()}


def counted_in_quarantine(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Per node, what the frontier (``nodes``) says sits in quarantine, and what does."""
    with sqlite3.connect(path) as conn:
        said = {node: n for node, n in conn.execute("SELECT node, quarantined FROM nodes") if n}
        held = dict(conn.execute("SELECT node, count(*) FROM quarantine GROUP BY node").fetchall())
    return said, held


@given(st.data())
def test_ops_released_as_the_clock_catches_up_leave_the_state_they_would_have_made_arriving_late(data):
    ops = data.draw(op_sets())
    reference = MemoryReplica("reference", REGISTRY, max_ahead_ms=BOUND_MS)
    reference.ingest(ops, FAR_FUTURE_MS)
    clocks = sorted(data.draw(st.lists(CLOCKS, min_size=1, max_size=4)))
    with tempfile.TemporaryDirectory() as folder, stores(folder, "hub") as replicas:
        for replica in replicas:
            # Batches arrive while the clock moves on; between them, a release of any size.
            for index, batch in enumerate(data.draw(deliveries(ops))):
                now = T0 + clocks[min(index, len(clocks) - 1)]
                replica.ingest(batch, now)
                replica.release(now, data.draw(st.integers(1, 8)))
            waited = sum(quarantine_of(replica).values())
            event(f"ops waiting for the clock before the last release: {'some' if waited else 'none'}")
            replica.release(FAR_FUTURE_MS, data.draw(st.integers(1, 1 << 10)))
            while replica.release(FAR_FUTURE_MS, 1 << 10).accepted:
                pass
            assert replica.canonical() == reference.canonical()
            assert replica.vector() == reference.vector()
            assert replica.ops_after({}, 1 << 20) == reference.ops_after({}, 1 << 20)
            assert quarantine_of(replica) == quarantine_of(reference)
            assert not any(quarantine_of(replica).values()), "an op still waits for a clock already past it"
            # What the store says is held agrees with the reference, fast path and slow.
            ids = [op.id for op in ops]
            assert replica.held(ids) == reference.held(ids)
        said, held = counted_in_quarantine(Path(folder) / "hub.db")
        assert said == held


@given(op_sets(), CLOCKS)
def test_releasing_twice_changes_nothing_and_survives_reopening(ops, clock):
    now = T0 + clock
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.db"
        with SqliteReplica.open(path, "r", REGISTRY, max_ahead_ms=BOUND_MS) as replica:
            replica.ingest(ops, now)
            replica.release(now + 10_000, 1 << 10)
            before = (replica.canonical(), replica.vector(), replica.quarantined(), replica.log_end())
            assert replica.release(now + 10_000, 1 << 10).accepted == []
            assert (replica.canonical(), replica.vector(), replica.quarantined(), replica.log_end()) == before
        with SqliteReplica.open(path, None, REGISTRY, max_ahead_ms=BOUND_MS) as reopened:
            assert (reopened.canonical(), reopened.vector(), reopened.quarantined(), reopened.log_end()) == before
            assert reopened.release(now + 10_000, 1 << 10).accepted == []
            assert reopened.ingest(ops, now + 10_000).accepted == []
        assert counted_in_quarantine(path)[0] == counted_in_quarantine(path)[1]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_only_ops_within_the_bound_are_released_earliest_first(tmp_path, store):
    with stores(str(tmp_path), "hub") as both:
        replica = both[0] if store == "memory" else both[1]
        early, late, later = ahead(1, 1_000), ahead(2, 2_000, "notes"), ahead(3, 3_000, "notes", "last")
        assert replica.ingest([early, late, later], T0).accepted == []
        assert replica.release(T0 + 1_000 - BOUND_MS - 1, 10).accepted == []  # one millisecond short
        assert replica.release(T0 + 3_000 - BOUND_MS, 1).accepted == [early.id]
        assert replica.release(T0 + 3_000 - BOUND_MS, 10).accepted == [late.id, later.id]
        assert replica.entity("job", "j1") == {"title": "from the future", "notes": "last"}
        assert quarantine_of(replica) == {}
        assert replica.vector() == {"b": 3}


def test_ops_refused_by_a_rule_stay_in_quarantine_whatever_the_clock(tmp_path):
    with stores(str(tmp_path), "hub") as replicas:
        for replica in replicas:
            too_long = ahead(1, 0, "title", "x" * 201)
            far_and_invalid = ahead(2, 60_000, "colour", "red")  # refused for its field before its clock
            waiting = ahead(3, 60_000)
            replica.ingest([too_long, far_and_invalid, waiting], T0)
            assert quarantine_of(replica) == {"b:1": False, "b:2": False, "b:3": True}
            assert replica.release(FAR_FUTURE_MS, 10).accepted == [waiting.id]
            assert quarantine_of(replica) == {"b:1": False, "b:2": False}
            # Sent again, the refused ones are reported again; the released one is held.
            again = replica.ingest([too_long, far_and_invalid, waiting], FAR_FUTURE_MS)
            assert [str(op_id) for op_id, _ in again.rejected] == ["b:1", "b:2"] and again.duplicates == 1


def test_an_op_sent_again_while_it_waits_is_reported_as_waiting(tmp_path):
    with stores(str(tmp_path), "hub") as replicas:
        for replica in replicas:
            op = ahead(1, 60_000)
            first = replica.ingest([op], T0)
            again = replica.ingest([op], T0 + 1)
            assert first.rejected == again.rejected
            assert again.rejected[0][1].clock_ahead
            assert again.to_json()["rejected"][0]["clock_ahead"] is True


def test_a_released_op_joins_the_log_after_the_cursor_so_the_feed_carries_it(tmp_path):
    with SqliteReplica.open(tmp_path / "hub.db", "hub", REGISTRY, max_ahead_ms=BOUND_MS) as replica:
        waiting, honest = ahead(1, 60_000), ahead(1, 0, "notes", "now", node="c")
        replica.ingest([waiting, honest], T0)
        cursor = replica.log_end()
        assert replica.ops_since(cursor, 10)[0] == []
        replica.release(T0 + 60_000, 10)
        assert replica.ops_since(cursor, 10)[0] == [waiting]
        assert replica.get_op(waiting.id) == waiting
        assert replica.clock() == waiting.hlc  # the clock follows what is merged, as for any op


def test_a_release_that_dies_midway_leaves_the_op_waiting(tmp_path):
    path = tmp_path / "hub.db"
    with SqliteReplica.open(path, "hub", REGISTRY, max_ahead_ms=BOUND_MS) as replica:
        waiting = ahead(1, 60_000)
        replica.ingest([waiting], T0)

        def dies(*_):
            raise KeyboardInterrupt  # a BaseException, as a process dying would be

        replica.observers.append(dies)
        with pytest.raises(KeyboardInterrupt):
            replica.release(FAR_FUTURE_MS, 10)
        replica.observers.remove(dies)
        # The transaction rolled back whole: still waiting, still counted, nothing in the log.
        assert quarantine_of(replica) == {"b:1": True}
        assert replica.held([waiting.id]) == {waiting.id: replica.quarantined_of("b", 1)[0][1]}
        assert replica.op_count() == 0
        assert replica.release(FAR_FUTURE_MS, 10).accepted == [waiting.id]
    assert counted_in_quarantine(path) == ({}, {})


def test_an_op_invalid_under_the_schema_of_its_release_is_quarantined_for_that_instead(tmp_path):
    job = REGISTRY.get("job")
    narrower = Registry([dataclasses.replace(job, fields={k: v for k, v in job.fields.items() if k != "notes"})])
    with stores(str(tmp_path), "hub") as replicas:
        for replica in replicas:
            waits = ahead(1, 60_000, "notes")
            replica.ingest([waits], T0)
            replica.registry = narrower  # the hub upgraded meanwhile, and the field is gone
            result = replica.release(FAR_FUTURE_MS, 10)
            assert result.accepted == []
            assert result.rejected == [(waits.id, Rejection("field", "job has no field 'notes'"))]
            assert quarantine_of(replica) == {"b:1": False}
            assert replica.release(FAR_FUTURE_MS, 10).rejected == []


def check_upgrade_from_layout_1(open_replica, connect, set_layout_1: str) -> None:
    """A store of layout 1 (no column saying an op waits for the clock: its field 'hlc' was the
    only sign), opened again by this code, finds what waited and releases it."""
    with open_replica("hub") as replica:
        replica.ingest([ahead(1, 60_000), ahead(2, 0, "title", "x" * 201)], T0)
    with connect() as conn:
        conn.execute("DROP INDEX quarantine_waiting")
        conn.execute("ALTER TABLE quarantine DROP COLUMN ahead_hlc")
        conn.execute("DROP TABLE logged_ops")  # layout 3
        conn.execute(set_layout_1)
    with open_replica(None) as upgraded:
        assert quarantine_of(upgraded) == {"b:1": True, "b:2": False}
        assert upgraded.release(FAR_FUTURE_MS, 10).accepted == [("b", 1)]


def test_a_file_of_the_previous_layout_is_upgraded_and_its_clock_quarantine_released(tmp_path):
    path = tmp_path / "old.db"
    check_upgrade_from_layout_1(lambda node: SqliteReplica.open(path, node, REGISTRY, max_ahead_ms=BOUND_MS),
                                lambda: sqlite3.connect(path), "PRAGMA user_version=1")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LAYOUT_VERSION
