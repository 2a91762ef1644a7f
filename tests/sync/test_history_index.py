"""A history page of counters and overwritten conflict resolutions costs what those entities' ops
cost, not the log: ``logged_ops`` names the chunks that hold their ops. Whatever the arrival
order, the history still rebuilds the hub's state; a rebuild of entities keeps the table right; a
store of layout 2 gets it filled from its log when opened."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sync.hlc import pack
from sync.ops import APPEND, INCR, SET, Op, OpId
from sync.store import SqliteReplica, SqlReplica
from sync.store import sql as sql_store
from sync.store.sqlite import LAYOUT_VERSION

from .model import FAR_FUTURE_MS, REGISTRY
from .strategies import T0, deliveries, op_sets
from .test_rebuild import scoped, subset

OpenReplica = Callable[[str, str | None], AbstractContextManager[SqlReplica]]


@contextmanager
def sqlite_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def sqlite_opener(folder: Path) -> OpenReplica:
    """Opens (creating) the SQLite replica ``name`` in ``folder``."""
    return lambda name, node: SqliteReplica.open(folder / f"{name}.db", node, REGISTRY)


def _write(node: str, counter: int, field: str, value: object, refs: tuple[OpId, ...] = (), eid: str = "j1") -> Op:
    action = INCR if field == "stock" else SET
    return Op(node, counter, pack(T0 + counter, 0), "job", eid, action, field, value, refs)


@st.composite
def tangled_writes(draw) -> list[Op]:
    """Writes of one lww field, each having seen any of the earlier ones (several: it resolves a
    conflict), and counter deltas of the same job, by three nodes."""
    ops: list[Op] = []
    counters = {"a": 0, "b": 0, "c": 0}
    for _ in range(draw(st.integers(1, 25))):
        node = draw(st.sampled_from(sorted(counters)))
        counters[node] += 1
        if draw(st.integers(0, 4)) == 0:
            ops.append(_write(node, counters[node], "stock", draw(st.sampled_from((-1, 2, "0.5")))))
            continue
        titles = [op.id for op in ops if op.field == "title"]
        seen = draw(st.lists(st.sampled_from(titles), max_size=3, unique=True)) if titles else []
        ops.append(_write(node, counters[node], "title", f"t{len(ops)}", tuple(seen)))
    return ops


@given(st.one_of(tangled_writes(), op_sets()), st.data())
def test_a_history_rebuilds_the_hubs_state_whatever_order_its_ops_arrived_in(ops, data):
    with sqlite_folder() as folder, sqlite_opener(folder)("hub", "hub") as hub, \
            sqlite_opener(folder)("device", "device") as device:
        for batch in data.draw(deliveries(ops)):
            hub.ingest(batch, FAR_FUTURE_MS)
        entities = sorted({(op.entity, op.eid) for op in ops})
        history = hub.history_ops(entities)
        assert len({op.id for op in history}) == len(history)
        device.ingest(history, FAR_FUTURE_MS)
        assert device.canonical() == hub.canonical()


def test_a_write_over_a_resolution_that_arrived_before_the_resolution_is_still_sent():
    """b:2 overwrites a:2, which overwrote the resolution c:1; a:2 came first, while c:1 was
    missing. Without a:2 the history would rebuild c:1 as a head: a conflict that never happened."""
    a1, b1 = _write("a", 1, "title", "A"), _write("b", 1, "title", "B")
    resolution = _write("c", 1, "title", "R", (a1.id, b1.id))
    early = _write("a", 2, "title", "X", (resolution.id,))
    latest = _write("b", 2, "title", "Y", (early.id,))
    with sqlite_folder() as folder, sqlite_opener(folder)("hub", "hub") as hub, \
            sqlite_opener(folder)("device", "device") as device:
        for batch in ([a1, b1], [early], [resolution], [latest]):
            hub.ingest(batch, FAR_FUTURE_MS)
        history = hub.history_ops([("job", "j1")])
        assert {early, resolution, latest} <= set(history)
        device.ingest(history, FAR_FUTURE_MS)
        assert device.canonical() == hub.canonical()


def test_a_write_the_table_names_but_no_history_needs_is_left_out():
    """a:1 came while the write it overwrote (g:1) was missing, so the table names it; b:1
    overwrote it once g:1 had come, and is not named. Sent without b:1, a:1 would be a head."""
    ghost_late = _write("g", 1, "title", "G")
    early = _write("a", 1, "title", "P", (ghost_late.id,))
    plain = _write("b", 1, "title", "V", (early.id,))
    one, other = _write("a", 2, "title", "W", (plain.id,)), _write("c", 1, "title", "Z", (plain.id,))
    resolution = _write("b", 2, "title", "R", (one.id, other.id))
    latest = _write("c", 2, "title", "T", (resolution.id,))
    with sqlite_folder() as folder, sqlite_opener(folder)("hub", "hub") as hub, \
            sqlite_opener(folder)("device", "device") as device:
        for batch in ([early], [ghost_late], [plain], [one, other], [resolution], [latest]):
            hub.ingest(batch, FAR_FUTURE_MS)
        history = hub.history_ops([("job", "j1")])
        assert early not in history and {one, other, resolution, latest} <= set(history)
        device.ingest(history, FAR_FUTURE_MS)
        assert device.canonical() == hub.canonical()


def fill_a_long_log(hub: SqlReplica) -> list[Op]:
    """A log of 300 chunks of time logs; the ops of job j1 (stock deltas, a conflict resolved then
    overwritten twice) and of job van (stock deltas) sit in a few others. Returns those ops."""
    wanted = [
        _write("a", 1, "title", "A"), _write("b", 1, "title", "B"),
        _write("c", 1, "title", "R", (OpId("b", 1), OpId("a", 1))),
        _write("c", 2, "title", "X", (OpId("c", 1),)), _write("a", 2, "title", "H", (OpId("c", 2),)),
        *(_write("hub", n, "stock", -1, eid="van") for n in range(1, 6)),
        _write("b", 2, "stock", 3), _write("b", 3, "stock", -1),
    ]
    jobs = list(wanted)
    logs = 0
    for batch in range(300):
        ops = []
        for _ in range(20):
            logs += 1
            ops.append(Op("tablet", logs, pack(T0 + logs, 0), "time_log", f"log-{logs}", APPEND, "", {"minutes": 5}))
        if batch % 30 == 0 and wanted:
            ops.extend(wanted[:2])
            del wanted[:2]
        hub.ingest(ops, FAR_FUTURE_MS)
    assert not wanted
    return jobs


def count_chunks_read(monkeypatch) -> list[int]:
    """Counts op chunk bodies decompressed from now on (each read of a chunk decompresses it)."""
    reads = [0]
    decompress = sql_store._decompress

    def counted(body: bytes) -> bytes:
        reads[0] += 1
        return decompress(body)

    monkeypatch.setattr(sql_store, "_decompress", counted)
    return reads


def check_a_history_page_reads_only_the_chunks_of_its_entities(open_replica: OpenReplica, monkeypatch) -> None:
    page = [("job", "j1"), ("job", "van")]
    with open_replica("hub", "hub") as hub:
        held = fill_a_long_log(hub)
        chunks = {seq for (seq,) in hub._execute("SELECT seq FROM op_chunks").fetchall()}
        holding = {seq for seq in chunks
                   if any(row[2] == "job" for row in sql_store.chunk_rows(
                       hub._execute("SELECT body FROM op_chunks WHERE seq = ?", (seq,)).fetchone()[0]))}
        expected = hub.canonical(page)
    assert len(chunks) >= 300 and len(holding) <= 12
    with open_replica("hub", None) as hub, open_replica("device", "device") as device:  # nothing decoded yet
        reads = count_chunks_read(monkeypatch)
        history = hub.history_ops(page)
        assert 0 < reads[0] <= len(holding)
        assert sorted(history) == sorted(held)
        # Every delta, and the resolution with the writes that overwrote it: no phantom conflict.
        assert {op.id for op in history} >= {OpId("c", 1), OpId("c", 2), OpId("a", 2), OpId("b", 2)}
        device.ingest(history, FAR_FUTURE_MS)
        assert device.canonical(page) == expected


def test_a_history_page_of_counters_and_resolved_conflicts_reads_only_the_chunks_holding_their_ops(monkeypatch):
    with sqlite_folder() as folder:
        check_a_history_page_reads_only_the_chunks_of_its_entities(sqlite_opener(folder), monkeypatch)


def test_rebuilding_an_entity_keeps_the_table_to_the_ops_its_registers_are_made_of():
    c1, c2, c3 = (_write("hub", n, "stock", n) for n in (1, 2, 3))
    with sqlite_folder() as folder, sqlite_opener(folder)("device", "device") as device:
        device.ingest([c1, c2], FAR_FUTURE_MS)
        # The hub's history holds c1 again (merged anew, not stored again) and c3, not c2.
        device.rebuild([("job", "j1")], [c1, c3], FAR_FUTURE_MS)
        assert device.entity("job", "j1")["stock"] == 4
        assert sorted(device.history_ops([("job", "j1")])) == [c1, c3]
        device.rebuild([("job", "j1")], [c2], FAR_FUTURE_MS)
        assert device.history_ops([("job", "j1")]) == [c2]


@given(st.one_of(tangled_writes(), op_sets()), st.data())
def test_a_device_that_rebuilt_entities_from_the_hubs_history_gives_that_state_in_its_own_history(ops, data):
    held = subset(data, ops)
    entities = scoped(data, ops)
    with sqlite_folder() as folder, sqlite_opener(folder)("hub", "hub") as hub, \
            sqlite_opener(folder)("device", "device") as device, sqlite_opener(folder)("other", "other") as other:
        for batch in data.draw(deliveries(ops)):
            hub.ingest(batch, FAR_FUTURE_MS)
        device.ingest(held, FAR_FUTURE_MS)
        device.rebuild(entities, hub.history_ops(entities), FAR_FUTURE_MS)
        other.ingest(device.history_ops(entities), FAR_FUTURE_MS)
        assert other.canonical(entities) == device.canonical(entities) == hub.canonical(entities)


def check_upgrade_from_layout_2(open_replica: OpenReplica, ops: list[Op], batches: list[list[Op]],
                                downgrade: Callable[[], None]) -> None:
    """A store written before ``logged_ops`` existed, opened by this code, has it filled from
    its log: its histories are right and no ingest needs to have written the table."""
    with open_replica("hub", "hub") as hub:
        for batch in batches:
            hub.ingest(batch, FAR_FUTURE_MS)
        entities = sorted({(op.entity, op.eid) for op in ops})
        before = sorted(hub.history_ops(entities))
        counters = _counter_rows(hub)
    downgrade()
    with open_replica("hub", None) as upgraded, open_replica("device", "device") as device:
        # The whole log of a logged lww field is named, where ingest names the writes since its first
        # resolution: the history may hold more of them, never fewer, and rebuilds the same state.
        assert _counter_rows(upgraded) == counters
        history = upgraded.history_ops(entities)
        assert {op.id for op in history} >= {op.id for op in before}
        device.ingest(history, FAR_FUTURE_MS)
        assert device.canonical() == upgraded.canonical()
        # What arrives after the upgrade is named as usual.
        late = _write("z", 1, "stock", 7)
        upgraded.ingest([late], FAR_FUTURE_MS)
        assert late in upgraded.history_ops([("job", "j1")])


def _counter_rows(replica: SqlReplica) -> list[tuple[str, str, str, int, int]]:
    return sorted(replica._execute("SELECT * FROM logged_ops WHERE field = 'stock'").fetchall())


@given(st.one_of(tangled_writes(), op_sets()), st.data())
def test_a_file_of_layout_2_gets_the_table_filled_from_its_log(ops, data):
    batches = data.draw(deliveries(ops))
    with sqlite_folder() as folder:
        path = folder / "hub.db"

        def downgrade() -> None:
            conn = sqlite3.connect(path)
            with conn:
                conn.execute("DROP TABLE logged_ops")
                conn.execute("PRAGMA user_version=2")
            conn.close()

        check_upgrade_from_layout_2(sqlite_opener(folder), ops, batches, downgrade)
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LAYOUT_VERSION == 3
        conn.close()
