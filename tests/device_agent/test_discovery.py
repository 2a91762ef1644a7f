"""Real zeroconf on loopback: the hub announces _fieldsync._tcp, an agent finds it and enrols."""

import pytest
from click.testing import CliRunner

from device_agent.cli import main
from device_agent.discovery import discover
from hub import auth
from hub.app import create_app, store_of
from hub.server import start

from ..hub.conftest import seed_job

# Zeroconf on loopback is one network for every test process: tests that announce or look for
# hubs stay on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("zeroconf")


def test_an_agent_finds_the_hub_by_zeroconf_and_enrols_through_it_and_without_one_says_what_to_do(tmp_path):
    # One test, in this order: with no hub announced yet, enrol says what to do; then a hub is
    # announced and found. Two tests could run in either order, or at once in two processes.
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "nowhere"), "enrol", "--code", "AAAA-BBBB-CCCC",
                                       "--interface", "127.0.0.1"])
    assert result.exit_code != 0
    assert "give the hub's address with --hub URL" in result.output

    app = create_app({"database": tmp_path / "hub.db"})
    seed_job(store_of(app))
    running = start(app, "127.0.0.1", 0, zeroconf=True, interfaces=["127.0.0.1"])
    try:
        found = discover(["127.0.0.1"], timeout_s=10)
        assert running.url in [hub["url"] for hub in found]
        code = auth.create_enrolment_code(store_of(app), "technician", "tech-1", "tablet")
        result = CliRunner().invoke(main, ["--home", str(tmp_path / "tablet"), "enrol", "--code", code,
                                           "--interface", "127.0.0.1"])
        assert result.exit_code == 0, result.output
        assert f"with hub hub at {running.url}" in result.output
    finally:
        running.stop()
