"""Big scopes, which the hub keeps between a device's pull pages: one read back is exactly what
was written, in the format of today or of before; one computed follows every change of
assignment at once; no caller can change what another gets (scopes are immutable, shared, never
copied)."""

import dataclasses

import pytest

from hub import auth
from hub.config import HubConfig
from hub.scope import Scope, compute_scope
from hub.store import HubStore
from sync.hlc import pack
from sync.ops import APPEND, SET, Op

from .conftest import seed_job

RECORDS = 1500  # above what the hub bothers to keep


def _big_scope(records: int) -> Scope:
    entities = {("time_log", f"log-{i:06d}") for i in range(records)} | {("job", "job-1"), ("ticket", "tkt-1")}
    return Scope(entities, frozenset({"item", "checklist_template"}), {"job-1"}, {"tkt-1"}, {"van-1"})


def test_a_scope_reads_back_as_written_small_or_large():
    for scope in (Scope(), _big_scope(3), _big_scope(5000)):
        assert Scope.loads(scope.dumps()) == scope


def test_a_scope_stored_as_a_list_of_pairs_before_still_reads():
    text = ('{"entities":[["job","job-1"],["time_log","log-1"]],"types":["item"],"jobs":["job-1"],'
            '"tickets":[],"vans":["van-1"]}')
    assert Scope.loads(text) == Scope({("job", "job-1"), ("time_log", "log-1")}, frozenset({"item"}), {"job-1"},
                                      set(), {"van-1"})


def test_a_scope_read_back_cannot_be_changed_under_the_next_reader():
    scope = _big_scope(5000)
    text = scope.dumps()
    first = Scope.loads(text)
    assert first is Scope.loads(text)  # shared, not parsed again
    with pytest.raises(AttributeError):
        first.entities.add(("job", "job-2"))  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.jobs = frozenset({"job-2"})  # type: ignore[misc]
    assert Scope.loads(text) == _big_scope(5000)


def test_a_scope_orders_its_entities_once():
    scope = _big_scope(3)
    assert scope.ordered == tuple(sorted(scope.entities))
    assert scope.ordered is scope.ordered


def _time_logs(store, job: str, first: int, count: int) -> None:
    hlc = pack(store.now_ms() - 60_000, 0)
    store.replica.ingest([
        Op("office-import", counter, hlc + counter, "time_log", f"log-{counter:05d}", APPEND, "",
           {"job_id": job, "technician_id": "tech-1", "started_at": "2026-11-27T09:00:00+00:00",
            "ended_at": "2026-11-27T09:45:00+00:00", "description": "service", "billable": True,
            "category": "labour"})
        for counter in range(first, first + count)], store.now_ms())


def test_a_big_scope_follows_every_assignment_and_record_at_once(store, device):
    tablet, _token = device
    _time_logs(store, "job-1", 1, RECORDS)
    first = compute_scope(store, tablet)
    assert ("time_log", "log-00001") in first.entities and "job-1" in first.jobs
    assert compute_scope(store, tablet) == first
    _time_logs(store, "job-1", RECORDS + 1, 1)
    assert ("time_log", f"log-{RECORDS + 1:05d}") in compute_scope(store, tablet).entities
    store.write([("job", "job-1", SET, "technician_id", "tech-2")])
    moved = compute_scope(store, tablet)
    assert "job-1" not in moved.jobs and ("time_log", "log-00001") not in moved.entities
    store.write([("job", "job-1", SET, "technician_id", "tech-1")])
    assert compute_scope(store, tablet) == Scope(first.entities | {("time_log", f"log-{RECORDS + 1:05d}")},
                                                 first.types, first.jobs, first.tickets, first.vans)


def test_a_scope_computed_for_one_technician_is_not_given_to_another(store, device):
    tablet, _token = device
    seed_job(store, job="job-2", technician="tech-2", van="van-8")
    _time_logs(store, "job-1", 1, RECORDS)
    mine = compute_scope(store, tablet)
    theirs = compute_scope(store, tablet.__class__(**{**vars(tablet), "technician_id": "tech-2"}))
    assert "job-1" in mine.jobs and theirs.jobs == {"job-2"}
    assert compute_scope(store, tablet) is mine  # kept, and shared: nobody can change it


def test_two_hubs_in_one_process_never_share_a_scope(tmp_path):
    """Tests and the simulation run several hubs at once, whose logs may end at the same place."""
    stores = []
    try:
        for name, change in (("a", ("customer", "cust-1", SET, "name", "Harbour Hotels")),
                             ("b", ("job", "job-1", SET, "technician_id", "tech-2"))):
            (tmp_path / name).mkdir()
            store = HubStore(HubConfig(database=tmp_path / name / "hub.db"))
            stores.append(store)
            seed_job(store)
            _time_logs(store, "job-1", 1, RECORDS)
            store.write([change])
        a, b = stores
        assert a.replica.log_end() == b.replica.log_end()
        tablets = [auth.enrol(store, auth.create_enrolment_code(store, "technician", "tech-1", "tablet"), "tablet",
                              "test")[0] for store in stores]
        assert "job-1" in compute_scope(a, tablets[0]).jobs
        assert "job-1" not in compute_scope(b, tablets[1]).jobs
    finally:
        for store in stores:
            store.close()
