"""Scope as a technician lives it: a job assigned while the tablet was away arrives whole; a job
reassigned to someone else disappears from the list; work done on it offline still counts."""

from device_agent import Agent, visit
from device_agent.transport import HttpTransport
from device_agent.views import my_jobs
from hub import admin
from hub.app import store_of
from sync.ops import APPEND, SET


def test_a_job_assigned_later_arrives_with_its_history(hub, code, tmp_path):
    store = store_of(hub.app)
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code())
    try:
        agent.sync()
        store.write([
            ("ticket", "tkt-2", SET, "customer_id", "cust-1"), ("ticket", "tkt-2", SET, "title", "Boiler noise"),
            ("ticket", "tkt-2", SET, "opened_at", "2026-11-27T10:00:00+00:00"),
            ("work_order", "wo-2", SET, "ticket_id", "tkt-2"), ("work_order", "wo-2", SET, "scope", "Inspect"),
            ("job", "job-2", SET, "work_order_id", "wo-2"), ("job", "job-2", SET, "ticket_id", "tkt-2"),
            ("job", "job-2", SET, "technician_id", "tech-9"),
            ("job", "job-2", SET, "completion_notes", "earlier visit by tech-9"),
        ])
        agent.sync()
        assert [j["id"] for j in my_jobs(agent)] == ["job-1"]
        store.write([("job", "job-2", SET, "technician_id", "tech-1")])
        agent.sync()
        assert [j["id"] for j in my_jobs(agent)] == ["job-1", "job-2"]
        job = agent.replica.entity("job", "job-2")
        assert job["completion_notes"] == "earlier visit by tech-9"
        assert agent.replica.entity("ticket", "tkt-2")["title"] == "Boiler noise"
    finally:
        agent.close()


def test_a_job_reassigned_away_leaves_the_list_but_offline_work_on_it_is_kept(hub, code, tmp_path):
    store = store_of(hub.app)
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code())
    try:
        agent.sync()
        agent.write([("time_log", "tl-1", APPEND, "", {
            "job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T09:00:00+00:00",
            "ended_at": "2026-11-27T09:45:00+00:00"})])
        store.write([("job", "job-1", SET, "technician_id", "tech-9")])  # dispatch moved it meanwhile
        summary = agent.sync()
        assert summary.rejected == []
        assert store.replica.entity("time_log", "tl-1")["value"]["job_id"] == "job-1"
        assert ["job", "job-1"] in summary.left_scope
        assert my_jobs(agent) == []
        store.write([("job", "job-1", SET, "completion_notes", "finished by tech-9")])
        agent.sync()
        assert agent.replica.entity("job", "job-1").get("completion_notes") is None
    finally:
        agent.close()


def test_a_job_reassigned_away_and_back_returns_to_the_list(hub, code, tmp_path):
    store = store_of(hub.app)
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code())
    try:
        agent.sync()
        store.write([("job", "job-1", SET, "technician_id", "tech-9")])
        agent.sync()
        assert my_jobs(agent) == [] and agent.has_left("job", "job-1")
        store.write([("job", "job-1", SET, "technician_id", "tech-1")])
        agent.sync()
        assert [j["id"] for j in my_jobs(agent)] == ["job-1"] and not agent.has_left("job", "job-1")
    finally:
        agent.close()


def test_a_tablet_moved_to_another_technician_takes_on_their_jobs(hub, code, tmp_path):
    store = store_of(hub.app)
    store.write([
        ("technician", "tech-9", SET, "name", "Ben"),
        ("ticket", "tkt-9", SET, "customer_id", "cust-1"), ("ticket", "tkt-9", SET, "title", "Leak"),
        ("ticket", "tkt-9", SET, "opened_at", "2026-11-27T10:00:00+00:00"),
        ("work_order", "wo-9", SET, "ticket_id", "tkt-9"), ("work_order", "wo-9", SET, "scope", "Fix leak"),
        ("job", "job-9", SET, "work_order_id", "wo-9"), ("job", "job-9", SET, "ticket_id", "tkt-9"),
        ("job", "job-9", SET, "technician_id", "tech-9"),
    ])
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code())
    try:
        agent.sync()
        assert [j["id"] for j in my_jobs(agent)] == ["job-1"]
        admin.rescope(store, agent.config.node, technician_id="tech-9")
        summary = agent.sync()
        assert summary.moved_to == {"technician_id": "tech-9", "van_id": None}
        assert [j["id"] for j in my_jobs(agent)] == ["job-9"]
        visit.accept(agent, "job-9")  # recorded as Ben's, where it was refused as not his
        assert agent.sync().rejected == []
        assert store.replica.entity("job", "job-9")["status"] == "accepted"
        assert agent.sync().moved_to is None  # said once
    finally:
        agent.close()
    with Agent.open(tmp_path / "tablet", transport=HttpTransport(hub.url)) as reopened:
        assert reopened.config.technician_id == "tech-9"
