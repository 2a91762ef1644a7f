"""A tablet whose clock is badly wrong still syncs: its ops carry the hub's time (the offset the
hub measured), its business times stay as the device saw them, and the hub flags it."""

import time

from device_agent import Agent
from hub.app import store_of
from sync import hlc
from sync.ops import APPEND, MOVE

YEARS_73_MS = 73 * 365 * 24 * 3600 * 1000


def test_a_tablet_that_thinks_it_is_2099_syncs_and_cannot_win_every_write(hub, code, tmp_path):
    def wall():
        return int(time.time() * 1000) + YEARS_73_MS

    agent = Agent.enrol(tmp_path / "tablet", hub.url, code(), wall=wall)
    try:
        agent.sync()
        assert abs(agent.clock_offset_ms + YEARS_73_MS) < 5_000
        device_time = agent.device_time()
        ops = agent.write([("job", "job-1", MOVE, "status", "accepted"),
                           ("check_event", "chk-1", APPEND, "", {
                               "job_id": "job-1", "technician_id": "tech-1", "direction": "in", "lat": 51.45,
                               "lon": -2.59, "device_time": device_time})])
        assert abs(hlc.wall_ms(ops[0].hlc) - time.time() * 1000) < 5_000
        summary = agent.sync()
        assert summary.accepted == 2 and summary.rejected == []
        store = store_of(hub.app)
        assert store.replica.entity("job", "job-1")["status"] == "accepted"
        # The record keeps what the tablet's clock said; the hub knows by how much it is off.
        assert store.replica.entity("check_event", "chk-1")["value"]["device_time"].startswith("2099")
        offset, skewed = store.conn.execute(
            "SELECT clock_offset_ms, skewed FROM devices WHERE node = ?", (agent.config.node,)).fetchone()
        assert abs(offset + YEARS_73_MS) < 5_000 and skewed == 1
    finally:
        agent.close()
