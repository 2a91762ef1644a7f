"""Engines plan on a read-only snapshot and write in a short transaction (hub/engines/planning.py):
a plan is written when only device ops on other entities landed meanwhile, made again when an
office action or an op on an entity it writes landed, and after too many tries made and written
in one transaction. The snapshot neither writes nor holds up the store's writers."""

import threading
from contextlib import contextmanager

import pytest

from hub.config import HubConfig
from hub.engines import planning
from hub.engines.planning import write_planned
from hub.store import HubStore
from sync import hlc
from sync.ops import SET, Op
from sync.store.sql import ReadOnlyTransaction

NOW_MS = 1_795_770_000_000


@pytest.fixture
def store(tmp_path):
    hub = HubStore(HubConfig(database=tmp_path / "hub.db", clock=lambda: NOW_MS))
    hub.write([("ticket", "tkt-1", SET, "title", "Boiler down"), ("ticket", "tkt-2", SET, "title", "Leak")])
    yield hub
    hub.close()


def device_op(counter, entity, eid, field, value):
    return Op("tablet-1", counter, hlc.pack(NOW_MS + 1000, counter), entity, eid, SET, field, value)


def ingest(store, *ops):
    with store.unit_of_work():
        store.replica.ingest(list(ops), NOW_MS)


class Plan:
    """A plan that writes, on tkt-1, ``ticket.sla`` naming the title it read. On its first
    ``times`` calls it does ``meanwhile`` (what another request does while the engine plans);
    it records which store each call read."""

    def __init__(self, meanwhile=None, times=1):
        self.meanwhile = meanwhile
        self.times = times
        self.stores = []

    def __call__(self, view):
        self.stores.append(view)
        title = view.replica.entity("ticket", "tkt-1").get("title")
        if self.meanwhile is not None and len(self.stores) <= self.times:
            self.meanwhile()
        return [[("ticket", "tkt-1", SET, "sla", {"planned_with": title})]]


def sla_of(store):
    return (store.replica.entity("ticket", "tkt-1").get("sla") or {}).get("planned_with")


def test_a_plan_is_made_on_a_read_only_view_and_written_once(store):
    plan = Plan()
    assert write_planned(store, plan) == 1
    assert len(plan.stores) == 1 and plan.stores[0] is not store and plan.stores[0].home is store
    assert sla_of(store) == "Boiler down"


def test_a_device_op_on_another_entity_meanwhile_leaves_the_plan_as_it_is(store):
    plan = Plan(lambda: ingest(store, device_op(1, "ticket", "tkt-2", "title", "Leak, urgent")))
    assert write_planned(store, plan) == 1
    assert len(plan.stores) == 1
    assert store.replica.entity("ticket", "tkt-2")["title"] == "Leak, urgent"


def test_a_device_op_on_an_entity_the_plan_writes_makes_it_plan_again(store):
    plan = Plan(lambda: ingest(store, device_op(1, "ticket", "tkt-1", "title", "Boiler fixed")))
    assert write_planned(store, plan) == 1
    assert len(plan.stores) == 2
    assert sla_of(store) == "Boiler fixed"


def test_an_office_action_meanwhile_makes_it_plan_again_whatever_it_touched(store):
    plan = Plan(lambda: store.write([("customer", "cus-1", SET, "name", "Acme")]))
    assert write_planned(store, plan) == 1
    assert len(plan.stores) == 2


def test_a_plan_overtaken_every_time_is_made_and_written_in_one_transaction(store):
    titles = iter(f"title {n}" for n in range(10))
    plan = Plan(lambda: store.write([("ticket", "tkt-1", SET, "title", next(titles))]), times=planning.REPLANS)
    assert write_planned(store, plan) == 1
    assert len(plan.stores) == planning.REPLANS + 1
    assert plan.stores[-1] is store  # the last plan read inside the writing transaction
    assert sla_of(store) == f"title {planning.REPLANS - 1}"


def test_an_empty_plan_writes_nothing(store):
    before = store.replica.log_end()
    assert write_planned(store, lambda view: [[], []]) == 0
    assert store.replica.log_end() == before


def test_the_planning_view_cannot_write(store):
    with store.planning() as view:
        with pytest.raises(ReadOnlyTransaction):
            view.write([("ticket", "tkt-1", SET, "title", "sneaked in")])
    assert store.replica.entity("ticket", "tkt-1")["title"] == "Boiler down"


def test_the_view_sees_one_state_while_the_writer_goes_on(store):
    """A push lands (in another thread, so it would wait on any lock the view held) while the
    view reads: the push completes, and the view goes on seeing the state it started from."""
    with store.planning() as view:
        assert view.replica.entity("ticket", "tkt-1")["title"] == "Boiler down"
        pushed = threading.Thread(target=ingest, args=(store, device_op(1, "ticket", "tkt-2", "title", "Leak, urgent")))
        pushed.start()
        pushed.join(timeout=20)
        assert not pushed.is_alive(), "the writer waited for the planning view"
        store.write([("ticket", "tkt-1", SET, "title", "Boiler fixed")])
        assert view.replica.entity("ticket", "tkt-1")["title"] == "Boiler down"
        assert view.replica.entity("ticket", "tkt-2")["title"] == "Leak"
    with store.planning() as view:
        assert view.replica.entity("ticket", "tkt-1")["title"] == "Boiler fixed"
        assert view.replica.entity("ticket", "tkt-2")["title"] == "Leak, urgent"


def test_inside_a_transaction_the_plan_reads_what_the_transaction_wrote(store):
    with store.unit_of_work():
        store.write([("ticket", "tkt-1", SET, "title", "Boiler fixed")])
        with store.planning() as view:
            assert view is store
            assert view.replica.entity("ticket", "tkt-1")["title"] == "Boiler fixed"


def test_views_are_reused_and_closed_with_the_store(tmp_path):
    hub = HubStore(HubConfig(database=tmp_path / "hub.db", clock=lambda: NOW_MS))
    with hub.planning() as first:
        pass
    with hub.planning() as second:
        pass
    assert first is second
    hub.close()
    assert first._closed  # its own connection went with the store's


def record_batches(store, monkeypatch, after_first=None):
    """The sizes of the batches write_planned writes; ``after_first`` runs once, after the first
    batch is committed (another request landing between two slices)."""
    batches = []
    write = store.write

    def recording(changes):
        batches.append([(change[0], change[1]) for change in changes])
        return write(changes)

    monkeypatch.setattr(store, "write", recording)
    if after_first is not None:
        real_unit = store.unit_of_work

        @contextmanager
        def unit_then_meanwhile():
            with real_unit() as inside:
                yield inside
            if len(batches) == 1 and not done:
                done.append(True)
                after_first()

        done = []
        monkeypatch.setattr(store, "unit_of_work", unit_then_meanwhile)
    return batches


def titles(count):
    return [[("ticket", f"tkt-{n}", SET, "title", f"Job {n}"), ("ticket", f"tkt-{n}", SET, "description", "x")]
            for n in range(count)]


def test_a_large_plan_is_written_in_slices_that_never_cut_a_unit(store, monkeypatch):
    batches = record_batches(store, monkeypatch)
    assert write_planned(store, lambda view: titles(300)) == 600
    assert len(batches) == 600 // planning.WRITE_SLICE and all(len(batch) <= planning.WRITE_SLICE for batch in batches)
    for batch in batches:
        assert len(batch) % 2 == 0 and all(batch[i] == batch[i + 1] for i in range(0, len(batch), 2))


def test_an_office_action_between_two_slices_makes_it_plan_the_rest_again(store, monkeypatch):
    def plan(view):
        calls.append(view)
        held = set(view.replica.entity_ids("ticket"))
        return [unit for unit in titles(300) if unit[0][1] not in held or
                view.replica.entity("ticket", unit[0][1]).get("description") != "x"]

    calls = []
    batches = record_batches(store, monkeypatch, lambda: store.write([("customer", "cus-1", SET, "name", "Acme")]))
    assert write_planned(store, plan) == 600
    assert len(calls) == 2  # the second plan holds only what the first slice did not write
    assert sum(len(batch) for batch in batches if batch[0][0] == "ticket") == 600
    assert all(store.replica.entity("ticket", f"tkt-{n}")["description"] == "x" for n in range(300))


def test_a_planner_gives_way_while_a_write_is_open_and_never_waits_without_end(store, monkeypatch):
    from hub import store as store_module

    pauses = []
    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: pauses.append(seconds))
    with store.planning() as view:
        view.give_way()
        assert pauses == []  # nothing written now: no pause
        with store.unit_of_work():  # a write open the whole time (here in this thread)
            view.give_way()
        assert len(pauses) == round(store_module.GIVE_WAY_MOST_S / store_module.GIVE_WAY_STEP_S)
    store.give_way()  # the store itself never waits for its own writes
    assert len(pauses) == round(store_module.GIVE_WAY_MOST_S / store_module.GIVE_WAY_STEP_S)


def test_a_planner_goes_on_as_soon_as_the_write_ends(store, monkeypatch):
    from hub import store as store_module

    writing, done, committed = threading.Event(), threading.Event(), threading.Event()
    pauses = []

    def pause(seconds):
        pauses.append(seconds)
        if len(pauses) == 3:
            done.set()  # the writer commits during the planner's third pause
            committed.wait(10)

    def write():
        with store.unit_of_work():
            writing.set()
            done.wait(10)
        committed.set()

    monkeypatch.setattr(store_module.time, "sleep", pause)
    writer = threading.Thread(target=write)
    with store.planning() as view:
        writer.start()
        writing.wait(10)
        view.give_way()
    writer.join(10)
    assert len(pauses) == 3


def test_between_two_slices_a_long_writer_lets_a_queued_write_go_first(store, monkeypatch):
    from hub import store as store_module

    monkeypatch.setattr(store_module, "GIVE_WAY_MOST_S", 30.0)  # no cap: the order is the point
    order = []

    def queued():
        with store.unit_of_work():
            order.append("the queued write")

    other = threading.Thread(target=queued)
    with store.unit_of_work():  # the long writer's first slice
        other.start()
        for _ in range(10_000):
            if store._queued_writes:
                break
            threading.Event().wait(0.001)
    store.let_queued_writes_in()
    with store.unit_of_work():  # its next slice
        order.append("the long writer's next slice")
    other.join(10)
    assert order == ["the queued write", "the long writer's next slice"]


def test_an_office_action_after_the_check_on_a_snapshot_is_caught_in_the_transaction(store, monkeypatch):
    """What lands between the last check on a snapshot and the writing transaction (a queued
    write let in first) is checked inside the transaction: the plan is made again."""
    let_in = store.let_queued_writes_in
    slipped_in = []

    def an_office_action_goes_first():
        if not slipped_in:
            slipped_in.append(store.write([("ticket", "tkt-1", SET, "title", "Boiler fixed")]))
        let_in()

    monkeypatch.setattr(store, "let_queued_writes_in", an_office_action_goes_first)
    plan = Plan()
    assert write_planned(store, plan) == 1
    assert slipped_in and len(plan.stores) == 2
    assert sla_of(store) == "Boiler fixed"


def test_views_and_their_store_decode_each_chunk_of_the_log_once_between_them(store, monkeypatch):
    """Every device's pull reads the same recent log, each on a planning view: what one view
    decoded, the others (and the store) find decoded."""
    from sync.store import sql

    for n in range(1, 6):
        ingest(store, device_op(n, "ticket", f"tkt-{n + 10}", "title", f"Fault {n}"))
    decoded = []
    real = sql._ops_by_counter
    monkeypatch.setattr(sql, "_ops_by_counter", lambda node, body: decoded.append(node) or real(node, body))
    with store.planning() as first, store.planning() as second:
        assert first is not second
        ops, _ = first.replica.ops_since(0, 100)
        assert len(ops) == 7 and decoded  # the office's first write of two ops, then five pushes
        once = len(decoded)
        assert second.replica.ops_since(0, 100)[0] == ops
    assert store.replica.ops_since(0, 100)[0] == ops
    assert len(decoded) == once


def test_a_planning_view_keeps_what_its_hub_keeps_and_another_hub_its_own(store, tmp_path):
    class Remembered(list):
        """Something a hub keeps in memory beside its database (a cache, its settings)."""

    store.kept(Remembered).append("scope of tech-1")
    with store.planning() as view:
        assert view is not store
        assert view.kept(Remembered) is store.kept(Remembered) == ["scope of tech-1"]
    other = HubStore(HubConfig(database=tmp_path / "other.db", clock=lambda: NOW_MS))
    try:
        assert other.kept(Remembered) == []
    finally:
        other.close()
