"""Bugs the fault simulation found that are reported and not fixed yet (``runner.KNOWN_BUGS``),
each as its smallest reproduction. They are strict expected failures: the day one is fixed its
test passes, pytest reports XPASS as a failure, and whoever fixed it removes the mark here and
the entry in KNOWN_BUGS — so the simulation injects that fault again
(``python scripts/simulate.py --no-spare`` injects them all today)."""

from __future__ import annotations

import pytest

from device_agent import Agent, visit
from device_agent.transport import InProcessTransport
from hub import auth
from hub.app import create_app, store_of
from sync.ops import SET
from tests.hub.conftest import NOW_MS, seed_job

from .runner import KNOWN_BUGS


@pytest.fixture
def hub(tmp_path):
    clock = {"ms": NOW_MS}
    app = create_app({"database": tmp_path / "hub.db", "clock": lambda: clock["ms"]})
    seed_job(store_of(app))
    app.clock = clock
    yield app
    store_of(app).close()


def pull(client, token, cursor):
    """Pull until the hub has nothing more; returns (ops, cursor)."""
    ops = []
    while True:
        reply = client.post("/api/v1/sync/pull", json={"cursor": cursor, "limit": 1000},
                            headers={"Authorization": f"Bearer {token}"}).json
        ops += reply["ops"]
        cursor = reply["cursor"]
        if not reply["more"]:
            return ops, cursor


@pytest.mark.xfail(strict=True, reason=KNOWN_BUGS["lost-history-reply"])
def test_a_job_reassigned_to_a_tablet_arrives_whole_even_when_the_first_reply_is_lost(hub):
    store = store_of(hub)
    # A job dispatched earlier to another technician, then reassigned to tech-1's tablet.
    store.write([("ticket", "tkt-2", SET, "customer_id", "cust-1"), ("ticket", "tkt-2", SET, "title", "Leak"),
                 ("work_order", "wo-2", SET, "ticket_id", "tkt-2"), ("job", "job-2", SET, "work_order_id", "wo-2"),
                 ("job", "job-2", SET, "ticket_id", "tkt-2"), ("job", "job-2", SET, "technician_id", "tech-9")])
    _, token = auth.enrol(store, auth.create_enrolment_code(store, "technician", "tech-1", "tablet"), "tablet", "t")
    client = hub.test_client()
    _, cursor = pull(client, token, 0)
    store.write([("job", "job-2", SET, "technician_id", "tech-1")])
    # The hub sends job-2's history; the reply is lost on the way (or the tablet dies before
    # committing it). The tablet asks again from the cursor it holds.
    client.post("/api/v1/sync/pull", json={"cursor": cursor, "limit": 1000},
                headers={"Authorization": f"Bearer {token}"})
    ops, _ = pull(client, token, cursor)
    received = {(op[3], op[4], op[6]) for op in ops}
    assert ("job", "job-2", "work_order_id") in received
    assert {("work_order", "wo-2", "ticket_id"), ("ticket", "tkt-2", "title")} <= received


@pytest.mark.xfail(strict=True, reason=KNOWN_BUGS["clock-jump-ahead"])
def test_a_tablet_set_an_hour_ahead_while_offline_keeps_its_work(hub, tmp_path):
    store = store_of(hub)
    skew = {"ms": 0}
    agent = Agent.enrol(tmp_path / "tablet", "in-process", auth.create_enrolment_code(store, "technician", "tech-1",
                                                                                         "tablet"),
                        transport=InProcessTransport(hub), wall=lambda: hub.clock["ms"] + skew["ms"],
                        sleep=lambda _s: None)
    try:
        agent.sync()
        skew["ms"] = 3600 * 1000  # someone sets the tablet's clock an hour ahead; no network
        visit.accept(agent, "job-1")
        summary = agent.sync()
        assert summary.rejected == []
        assert store.replica.entity("job", "job-1")["status"] == "accepted"
        hub.clock["ms"] += 60_000
        visit.depart(agent, "job-1")  # after the sync that measured the new offset
        assert agent.sync().rejected == []
        assert store.replica.entity("job", "job-1")["status"] == "en_route"
    finally:
        agent.close()
