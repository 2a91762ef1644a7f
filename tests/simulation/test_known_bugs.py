"""Bugs the fault simulation found, each as its smallest reproduction. Those reported and not
fixed yet (``runner.KNOWN_BUGS``) are strict expected failures: the day one is fixed its test
passes, pytest reports XPASS as a failure, and whoever fixed it removes the mark here and the
entry in KNOWN_BUGS — so the simulation injects that fault again (``python scripts/simulate.py
--no-spare`` injects them all today). Those fixed stay here as plain tests that keep them fixed."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from device_agent import Agent, visit
from device_agent.transport import InProcessTransport
from hub import auth
from hub.app import create_app, store_of
from sync.ops import ADD, REMOVE, SET
from tests.hub.conftest import NOW_MS, seed_job


@pytest.fixture
def hub(tmp_path):
    clock = {"ms": NOW_MS}
    app = create_app({"database": tmp_path / "hub.db", "clock": lambda: clock["ms"]})
    seed_job(store_of(app))
    app.clock = clock
    yield app
    store_of(app).close()


def pull(client, token, cursor, ack):
    """Pull until the hub has nothing more, acknowledging each reply as the agent does; returns
    (ops, cursor, the last reply's offer id)."""
    ops = []
    while True:
        reply = pull_once(client, token, cursor, ack)
        ops += reply["ops"]
        cursor, ack = reply["cursor"], reply["offer"]
        if not reply["more"]:
            return ops, cursor, ack


def pull_once(client, token, cursor, ack):
    return client.post("/api/v1/sync/pull", json={"cursor": cursor, "limit": 1000, "ack": ack},
                       headers={"Authorization": f"Bearer {token}"}).json


def test_a_job_reassigned_to_a_tablet_arrives_whole_even_when_the_first_reply_is_lost(hub):
    store = store_of(hub)
    # A job dispatched earlier to another technician, then reassigned to tech-1's tablet.
    store.write([("ticket", "tkt-2", SET, "customer_id", "cust-1"), ("ticket", "tkt-2", SET, "title", "Leak"),
                 ("work_order", "wo-2", SET, "ticket_id", "tkt-2"), ("job", "job-2", SET, "work_order_id", "wo-2"),
                 ("job", "job-2", SET, "ticket_id", "tkt-2"), ("job", "job-2", SET, "technician_id", "tech-9")])
    _, token = auth.enrol(store, auth.create_enrolment_code(store, "technician", "tech-1", "tablet"), "tablet", "t")
    client = hub.test_client()
    _, cursor, ack = pull(client, token, 0, None)
    store.write([("job", "job-2", SET, "technician_id", "tech-1")])
    # The hub sends job-2's history; the reply is lost on the way (or the tablet dies before
    # committing it). The tablet asks again from the cursor and the offer it holds.
    assert pull_once(client, token, cursor, ack)["history"]
    ops, _, _ = pull(client, token, cursor, ack)
    received = {(op[3], op[4], op[6]) for op in ops}
    assert ("job", "job-2", "work_order_id") in received
    assert {("work_order", "wo-2", "ticket_id"), ("ticket", "tkt-2", "title")} <= received


@contextmanager
def set_an_hour_ahead_while_offline(hub, tmp_path, *, reboots: bool):
    """tech-1's tablet syncs; offline, someone sets its clock an hour ahead (and it reboots, if
    ``reboots``); it accepts job-1 and syncs, departs a minute later and syncs again. Yields the
    agent and what the hub refused at each of the two syncs."""
    store = store_of(hub)
    skew = {"ms": 0}
    boot = {"id": "boot-1", "at": hub.clock["ms"]}
    agent = Agent.enrol(tmp_path / "tablet", "in-process", auth.create_enrolment_code(store, "technician", "tech-1",
                                                                                         "tablet"),
                        transport=InProcessTransport(hub), wall=lambda: hub.clock["ms"] + skew["ms"],
                        elapsed=lambda: (boot["id"], hub.clock["ms"] - boot["at"]), sleep=lambda _s: None)
    try:
        agent.sync()
        skew["ms"] = 3600 * 1000
        if reboots:
            boot.update(id="boot-2", at=hub.clock["ms"])
        visit.accept(agent, "job-1")
        refused = [agent.sync().rejected]
        hub.clock["ms"] += 60_000
        visit.depart(agent, "job-1")  # after the sync that measured the new offset
        refused.append(agent.sync().rejected)
        yield agent, refused
    finally:
        agent.close()


def test_a_tablet_set_an_hour_ahead_while_offline_keeps_its_work(hub, tmp_path):
    with set_an_hour_ahead_while_offline(hub, tmp_path, reboots=False) as (_agent, refused):
        assert refused == [[], []]
        assert store_of(hub).replica.entity("job", "job-1")["status"] == "en_route"


def test_a_tablet_set_an_hour_ahead_and_rebooted_while_offline_keeps_its_work(hub, tmp_path):
    # In the new boot nothing tells the jump from time that passed: the acceptance is stamped an
    # hour ahead, and the departure after it too (the tablet's hybrid clock carries the hour).
    # The hub holds both until its own clock has caught up, then merges them.
    store = store_of(hub)
    with set_an_hour_ahead_while_offline(hub, tmp_path, reboots=True) as (agent, refused):
        assert [[r["clock_ahead"] for r in sync] for sync in refused] == [[True], [True]]
        assert len(agent.status()["refused_by_hub"]) == 2
        assert store.replica.entity("job", "job-1").get("status") is None
        hub.clock["ms"] += 3600 * 1000 - 60_000 - store.config.max_ahead_ms
        agent.sync()
        assert store.replica.entity("job", "job-1")["status"] == "en_route"
        assert store.replica.quarantined() == [] and agent.status()["refused_by_hub"] == []


def reassigned_back_after_changes(hub, tmp_path):
    """tech-1's tablet holds job-1 (crew: tech-3) and its ticket; the job goes to tech-2; while the
    tablet syncs past them, the office edits the ticket twice and takes tech-3 off the crew; the
    job comes back to tech-1."""
    store = store_of(hub)
    store.write([("technician", "tech-2", SET, "name", "Ben"), ("technician", "tech-2", SET, "van_id", "van-9"),
                 ("ticket", "tkt-1", SET, "description", "v1"), ("job", "job-1", ADD, "crew_ids", "tech-3")])
    agent = Agent.enrol(tmp_path / "tablet", "in-process",
                        auth.create_enrolment_code(store, "technician", "tech-1", "tablet"),
                        transport=InProcessTransport(hub), wall=lambda: hub.clock["ms"], sleep=lambda _s: None)
    agent.sync()
    store.write([("job", "job-1", SET, "technician_id", "tech-2")])
    agent.sync()
    agent.sync()
    store.write([("ticket", "tkt-1", SET, "description", "v2")])
    store.write([("ticket", "tkt-1", SET, "description", "v3"), ("job", "job-1", REMOVE, "crew_ids", "tech-3")])
    agent.sync()
    store.write([("job", "job-1", SET, "technician_id", "tech-1")])
    agent.sync()
    return agent, store


def test_a_job_back_on_a_tablet_after_its_ticket_was_edited_twice_shows_no_conflict(hub, tmp_path):
    agent, store = reassigned_back_after_changes(hub, tmp_path)
    try:
        assert agent.replica.entity("ticket", "tkt-1")["description"] == "v3"
        assert agent.replica.conflicts("ticket", "tkt-1") == []
        assert agent.replica.canonical([("ticket", "tkt-1")]) == store.replica.canonical([("ticket", "tkt-1")])
    finally:
        agent.close()


def test_a_job_back_on_a_tablet_after_a_crew_member_was_removed_has_the_hubs_crew(hub, tmp_path):
    agent, store = reassigned_back_after_changes(hub, tmp_path)
    try:
        assert store.replica.entity("job", "job-1").get("crew_ids", []) == []
        assert agent.replica.entity("job", "job-1").get("crew_ids", []) == []
    finally:
        agent.close()
