"""``fieldsync-agent status`` tells the technician when the tablet's clock was moved since the last
sync, and the work recorded meanwhile syncs — on this machine's own clocks and a live hub."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from device_agent import Agent
from device_agent.cli import main
from device_agent.clock import system_elapsed, wall_clock_ms
from hub.app import store_of

HOUR_MS = 3600 * 1000

pytestmark = pytest.mark.skipif(system_elapsed() is None, reason="no boot id and boot-time clock here")


def test_status_says_the_clock_moved_an_hour_ahead_and_the_visit_still_syncs(hub, code, tmp_path):
    home = tmp_path / "tablet"
    # At its last sync the tablet's clock was an hour behind; someone has since put it right,
    # which to the agent is a clock set an hour ahead since that sync.
    with Agent.enrol(home, hub.url, code(), wall=lambda: wall_clock_ms() - HOUR_MS, elapsed=system_elapsed) as agent:
        agent.sync()

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["--home", str(home), *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "device clock changed by +1h since the last sync; times corrected" in run("status")
    run("accept", "job-1")
    assert "refused" not in run("sync")
    store = store_of(hub.app)
    assert store.replica.entity("job", "job-1")["status"] == "accepted" and store.replica.quarantined() == []
    assert "device clock changed" not in run("status")
