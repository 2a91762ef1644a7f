"""Technicians work offline and sync late, some on tablets whose clocks are wrong: the SLA counts
what happened when it happened, corrected by each tablet's measured clock offset.

A real agent records the visit and pushes it through the hub's sync API (in process), so the
HLC stamps, ``device_time`` and the offsets the hub measures are the real ones. The seeded ticket
(tests/hub/conftest.py: High, opened 08:00, no contract) falls under the field-service table,
24x7: respond in 60 min, on site in 240, resolve in 480.
"""

import time

import pytest

from device_agent import Agent
from device_agent.transport import InProcessTransport
from device_agent.visit import Fix, accept, check_in
from hub import auth

from ..conftest import seed_job
from . import test_sla_support as support
from .test_sla_support import escalations, iso_ms, run, sla

hub_time = support.hub_time
THREE_HOURS_MS = 3 * 3600 * 1000
SITE = Fix(51.4545, -2.5879, 8)


@pytest.fixture
def tablet(app, store, tmp_path, hub_time):
    """Ana's tablet, enrolled at 08:30 with the job on it; ``skew["ms"]`` sets how fast its clock runs."""
    seed_job(store)  # at 08:00: the ticket opens
    hub_time("2026-11-27T08:30:00Z")
    skew = {"ms": 0}
    code = auth.create_enrolment_code(store, "technician", "tech-1", "Ana's tablet")
    agent = Agent.enrol(tmp_path / "tablet", "http://hub.test", code, transport=InProcessTransport(app),
                        wall=lambda: int(time.time() * 1000) + skew["ms"], sleep=lambda _: None)
    agent.skew = skew
    yield agent
    agent.close()


def test_a_check_in_made_offline_at_10_05_and_synced_at_16_00_counts_at_10_05(store, hub_time, tablet):
    tablet.sync()
    hub_time("2026-11-27T08:40:00Z")
    accept(tablet, "job-1")
    tablet.sync()  # accepted 40 min after opening: response met
    hub_time("2026-11-27T10:05:00Z")
    check_in(tablet, "job-1", SITE)  # in a basement, no signal

    hub_time("2026-11-27T12:30:00Z")  # the hub has heard nothing: on site is 270 of 240 min
    run(store)
    assert sla(store)["onsite"]["state"] == "breached"
    assert store.replica.entity("ticket", "tkt-1")["priority"] == "Critical"  # raised on the breach

    hub_time("2026-11-27T16:00:00Z")
    summary = tablet.sync()
    assert summary.accepted == 3 and summary.rejected == []  # the check-in and the job's moves to on_site
    run(store)
    onsite = sla(store)["onsite"]
    # 08:00 -> 10:05 = 125 min <= 240: met, whatever the hub believed at 12:30.
    assert onsite == {"target_min": 240, "state": "met", "due_at": iso_ms("2026-11-27T12:00:00Z"),
                      "elapsed_min": 125.0, "paused_min": 0.0, "stopped_at": iso_ms("2026-11-27T10:05:00Z"),
                      "stopped_by": "check-in", "paused": False, "as_of": iso_ms("2026-11-27T10:05:00Z")}
    assert sla(store)["response"]["elapsed_min"] == 40.0 and sla(store)["priority"] == "High"
    # What the hub escalated while it knew no better stays on record (append-only).
    assert "esc-tkt-1-onsite-breached" in escalations(store)
    assert run(store) == 0


def test_a_tablet_whose_clock_runs_three_hours_fast_checks_in_at_the_right_time(store, hub_time, tablet):
    tablet.skew["ms"] = THREE_HOURS_MS  # the tablet was already wrong when it enrolled
    tablet.sync()
    hub_time("2026-11-27T10:05:00Z")
    check_in(tablet, "job-1", SITE)
    hub_time("2026-11-27T10:30:00Z")
    tablet.sync()
    stored = store.replica.entity("check_event", next(iter(store.replica.entity_ids("check_event"))))
    assert stored["value"]["device_time"] == "2026-11-27T13:05:00+00:00"  # what the tablet's clock said
    run(store)
    # 13:05 on the tablet, less the 3 h the hub measured it ahead: 10:05, 125 min after opening.
    assert sla(store)["onsite"]["stopped_at"] == iso_ms("2026-11-27T10:05:00Z")
    assert sla(store)["onsite"]["elapsed_min"] == 125.0


def test_a_record_is_corrected_by_the_offset_measured_when_it_was_delivered(store, hub_time, tablet):
    tablet.skew["ms"] = THREE_HOURS_MS
    tablet.sync()
    hub_time("2026-11-27T10:05:00Z")
    check_in(tablet, "job-1", SITE)  # the tablet says 13:05
    hub_time("2026-11-27T10:30:00Z")
    tablet.sync()  # delivered while the tablet was 3 h fast
    tablet.skew["ms"] = 0  # then someone sets its clock right
    for when in ("2026-11-27T11:00:00Z", "2026-11-27T11:30:00Z"):
        hub_time(when)
        tablet.sync()
    offset = store.conn.execute("SELECT clock_offset_ms FROM devices").fetchone()[0]
    assert abs(offset) < 1000  # the device's offset now is about nothing...
    run(store)
    # ...but the check-in was recorded on the fast clock and counts at 10:05, not 13:05.
    assert sla(store)["onsite"]["stopped_at"] == iso_ms("2026-11-27T10:05:00Z")
