"""Two technicians on one job, both offline: they sync and every replica agrees, conflicts kept."""

from device_agent import Agent, visit
from hub.app import store_of
from sync.ops import ADD, SET


def job_state(replica, job):
    records = [(entity, eid) for entity in ("check_event", "time_log", "part_usage")
               for eid in replica.entity_ids(entity)
               if replica.entity(entity, eid)["value"].get("job_id") == job]
    return replica.canonical([("job", job), *records])


def test_two_technicians_work_one_job_offline_and_every_replica_agrees(hub, code, tmp_path):
    store = store_of(hub.app)
    store.write([("technician", "tech-2", SET, "name", "Ben Okafor"), ("technician", "tech-2", SET, "van_id", "van-7"),
                 ("job", "job-1", ADD, "crew_ids", "tech-2")])
    ana = Agent.enrol(tmp_path / "ana", hub.url, code("technician", "tech-1"))
    ben = Agent.enrol(tmp_path / "ben", hub.url, code("technician", "tech-2"))
    try:
        ana.sync()
        ben.sync()
        for agent, notes in ((ana, "replaced capacitor"), (ben, "cleaned condenser")):
            visit.accept(agent, "job-1")
            visit.check_in(agent, "job-1", visit.Fix(51.45, -2.59, 5.0))
            visit.use_part(agent, "job-1", "CAP-45", "1")
            visit.complete(agent, "job-1", notes)
        for _round in range(2):
            assert ana.sync().rejected == [] and ben.sync().rejected == []
        assert job_state(ana.replica, "job-1") == job_state(ben.replica, "job-1") == job_state(store.replica, "job-1")
        assert store.replica.entity("stock", "van-7:CAP-45")["on_hand"] == 0  # 2 - 1 - 1
        notes = [c for c in store.replica.conflicts("job", "job-1") if c["field"] == "completion_notes"]
        assert len(notes) == 1
        assert {notes[0]["value"], notes[0]["winner_value"]} == {"replaced capacitor", "cleaned condenser"}
        assert store.replica.entity("job", "job-1")["status"] == "completed"
    finally:
        ana.close()
        ben.close()
