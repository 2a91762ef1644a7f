"""A tablet whose clock is set back while it is offline keeps recording, and its work syncs
(a schedule of the fault simulation, #5, found every command refused with ClockSkewError)."""

import time

from device_agent import Agent, visit
from hub.app import store_of

HOUR_MS = 3600 * 1000


def test_a_tablet_set_back_an_hour_while_offline_records_the_visit_and_syncs_it(hub, code, tmp_path):
    skew = {"ms": 0}

    def wall():
        return int(time.time() * 1000) + skew["ms"]

    agent = Agent.enrol(tmp_path / "tablet", hub.url, code(), wall=wall)
    try:
        agent.sync()
        skew["ms"] = -HOUR_MS  # someone sets the tablet's clock back; no network
        visit.accept(agent, "job-1")
        visit.check_in(agent, "job-1", visit.Fix(51.45, -2.59, 5.0))
        visit.log_time(agent, "job-1", minutes=30, description="replaced capacitor")
        summary = agent.sync()
        assert summary.rejected == [] and summary.accepted == summary.pushed > 0
        store = store_of(hub.app)
        assert store.replica.entity("job", "job-1")["status"] == "on_site"
        assert store.replica.quarantined() == []
    finally:
        agent.close()
