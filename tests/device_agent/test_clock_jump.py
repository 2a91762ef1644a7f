"""A tablet whose clock is moved while it is offline keeps its work: the time elapsed since its
last sync says what the hub's time is, whatever its wall clock says (#5 — the fault simulation
found a tablet set an hour ahead quarantined at the hub for good, and set to 2099 for ever).

The hub runs in process on a clock the test moves; the tablet's wall clock is that clock plus
whatever someone set it to, and its elapsed clock counts the same time from its last boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agent import Agent, clock, visit
from device_agent.clock import MAX_UNSEEN_MS, Anchor
from device_agent.transport import InProcessTransport
from hub import auth
from hub.app import create_app, store_of
from sync import hlc
from tests.hub.conftest import NOW_MS, seed_job

MINUTE_MS = 60 * 1000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
YEAR_2099_MS = 73 * 365 * DAY_MS
FIX = visit.Fix(51.45, -2.59, 5.0)


class Field:
    """The hub, in process on a clock the test moves, holding Ana's job; and her tablet's clocks:
    a wall clock (the hub's time plus whatever someone set it to) and an elapsed clock counting
    the same time from the tablet's last boot."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.hub_ms = NOW_MS
        self.hub = create_app({"database": folder / "hub.db", "clock": lambda: self.hub_ms})
        seed_job(store_of(self.hub))
        self.set_by_ms = 0
        self.boots = 1
        self.booted_at = NOW_MS - HOUR_MS

    def wait(self, ms: int) -> None:
        self.hub_ms += ms

    def wall(self) -> int:
        return self.hub_ms + self.set_by_ms

    def elapsed(self) -> tuple[str, int]:
        return f"boot-{self.boots}", self.hub_ms - self.booted_at

    def reboot(self) -> None:
        self.boots += 1
        self.booted_at = self.hub_ms

    def tablet(self, code: str | None = None) -> Agent:
        """Ana's tablet: enrolled with ``code``, or opened again from its folder."""
        options = {"transport": InProcessTransport(self.hub), "wall": self.wall, "elapsed": self.elapsed,
                   "sleep": lambda _s: None}
        if code:
            return Agent.enrol(self.folder / "tablet", "in-process", code, **options)
        return Agent.open(self.folder / "tablet", **options)

    def job_and_quarantine(self) -> tuple[str, list]:
        store = store_of(self.hub)
        return store.replica.entity("job", "job-1")["status"], store.replica.quarantined()


@pytest.fixture
def field(tmp_path):
    world = Field(tmp_path)
    yield world
    store_of(world.hub).close()


@pytest.fixture
def tablet(field):
    """Ana's tablet, enrolled and synced at the hub's time, then taken offline."""
    agent = field.tablet(auth.create_enrolment_code(store_of(field.hub), "technician", "tech-1", "tablet"))
    agent.sync()
    yield agent
    agent.close()


def stamped_ms(agent: Agent) -> int:
    """The time in the HLC of the last op the tablet recorded."""
    return hlc.wall_ms(agent.replica.clock())


def test_a_tablet_set_an_hour_ahead_while_offline_stamps_its_visit_in_hub_time_and_says_so(field, tablet):
    field.wait(10 * MINUTE_MS)
    field.set_by_ms = HOUR_MS
    visit.accept(tablet, "job-1")
    assert stamped_ms(tablet) == field.hub_ms
    field.wait(20 * MINUTE_MS)
    visit.check_in(tablet, "job-1", FIX)
    assert stamped_ms(tablet) == field.hub_ms
    status = tablet.status()
    assert status["clock_jump_ms"] == HOUR_MS
    assert status["clock_note"] == "device clock changed by +1h since the last sync; times corrected"

    summary = tablet.sync()
    assert summary.rejected == [] and summary.accepted == summary.pushed > 0
    assert field.job_and_quarantine() == ("on_site", [])
    # The check-in keeps what the tablet's clock said (the hub corrects it by the offset it measured).
    check_in = store_of(field.hub).replica.entity("check_event", tablet.replica.entity_ids("check_event")[0])
    assert check_in["value"]["device_time"] == tablet.device_time()
    # The sync measured the new offset: the clock is believed again, and what follows syncs too.
    assert tablet.status()["clock_jump_ms"] == 0 and tablet.status()["clock_note"] is None
    field.wait(30 * MINUTE_MS)
    visit.log_time(tablet, "job-1", minutes=30, description="replaced capacitor")
    assert stamped_ms(tablet) == field.hub_ms
    assert tablet.sync().rejected == []
    assert store_of(field.hub).replica.quarantined() == []


def test_a_tablet_that_jumps_to_2099_mid_visit_finishes_the_visit_in_hub_time(field, tablet):
    visit.accept(tablet, "job-1")
    field.wait(5 * MINUTE_MS)
    field.set_by_ms = YEAR_2099_MS
    visit.depart(tablet, "job-1")
    field.wait(40 * MINUTE_MS)
    visit.check_in(tablet, "job-1", FIX)
    assert stamped_ms(tablet) == field.hub_ms
    assert tablet.status()["clock_note"].startswith("device clock changed by +73y")
    assert tablet.sync().rejected == []
    assert field.job_and_quarantine() == ("on_site", [])


def test_a_tablet_set_back_a_day_stamps_its_work_now_not_a_day_early(field, tablet):
    field.wait(15 * MINUTE_MS)
    field.set_by_ms = -DAY_MS
    visit.accept(tablet, "job-1")
    assert stamped_ms(tablet) == field.hub_ms
    assert tablet.status()["clock_jump_ms"] == -DAY_MS
    assert tablet.sync().rejected == []


def test_a_small_drift_is_the_wall_clocks_to_keep(field, tablet):
    field.wait(HOUR_MS)
    field.set_by_ms = 30 * 1000  # NTP-sized: below the tolerance, the wall clock is believed
    visit.accept(tablet, "job-1")
    assert stamped_ms(tablet) == field.hub_ms + 30 * 1000
    assert tablet.status()["clock_jump_ms"] == 0


def test_the_correction_holds_when_the_agent_is_closed_and_opened_again_in_the_same_boot(field, tablet):
    field.set_by_ms = 3 * HOUR_MS
    tablet.close()
    field.wait(10 * MINUTE_MS)
    with field.tablet() as reopened:
        visit.accept(reopened, "job-1")
        assert stamped_ms(reopened) == field.hub_ms
        assert reopened.sync().rejected == []
    assert field.job_and_quarantine() == ("accepted", [])


@pytest.mark.parametrize("set_to", [-NOW_MS, YEAR_2099_MS], ids=["reset-to-1970", "set-to-2099"])
def test_after_a_reboot_a_clock_beyond_belief_is_held_to_the_earliest_possible_time(field, tablet, set_to):
    tablet.close()
    synced_at = field.hub_ms
    field.wait(2 * HOUR_MS)  # switched off
    field.reboot()
    field.set_by_ms = set_to
    field.wait(5 * MINUTE_MS)
    with field.tablet() as rebooted:
        visit.accept(rebooted, "job-1")
        # Nothing on the tablet knows it was off two hours: only the 5 minutes of this boot count.
        assert stamped_ms(rebooted) == synced_at + 5 * MINUTE_MS
        field.wait(10 * MINUTE_MS)
        visit.depart(rebooted, "job-1")
        assert stamped_ms(rebooted) == synced_at + 15 * MINUTE_MS  # this boot's anchor holds
        assert rebooted.sync().rejected == []
    assert field.job_and_quarantine() == ("en_route", [])


def test_after_a_reboot_a_wall_clock_within_belief_is_believed_and_anchors_the_boot(field, tablet):
    tablet.close()
    field.wait(DAY_MS)  # switched off overnight, its clock right
    field.reboot()
    field.wait(MINUTE_MS)
    with field.tablet() as rebooted:
        visit.accept(rebooted, "job-1")
        assert stamped_ms(rebooted) == field.hub_ms
        field.set_by_ms = 2 * HOUR_MS  # then set ahead, in this boot
        field.wait(MINUTE_MS)
        visit.depart(rebooted, "job-1")
        assert stamped_ms(rebooted) == field.hub_ms
        assert rebooted.sync().rejected == []
    assert field.job_and_quarantine() == ("en_route", [])


def test_a_week_switched_off_is_beyond_belief_but_loses_nothing(field, tablet):
    tablet.close()
    synced_at = field.hub_ms
    field.wait(MAX_UNSEEN_MS + DAY_MS)
    field.reboot()
    with field.tablet() as rebooted:
        visit.accept(rebooted, "job-1")
        assert stamped_ms(rebooted) == synced_at  # early: it may lose a race, it is not refused
        assert rebooted.sync().rejected == []
        assert rebooted.status()["clock_jump_ms"] == 0
    assert field.job_and_quarantine() == ("accepted", [])


def test_a_device_without_an_elapsed_clock_trusts_its_wall_clock_as_before(field):
    wall = {"ms": 0}
    code = auth.create_enrolment_code(store_of(field.hub), "technician", "tech-1", "tablet")
    with Agent.enrol(field.folder / "tablet", "in-process", code, transport=InProcessTransport(field.hub),
                     wall=lambda: field.hub_ms + wall["ms"], sleep=lambda _s: None) as agent:
        agent.sync()
        wall["ms"] = HOUR_MS
        assert agent.now_ms() == field.hub_ms + HOUR_MS
        assert agent.status()["clock_jump_ms"] == 0


def test_after_a_month_in_one_boot_crystal_drift_is_allowed_for_and_a_real_jump_is_not():
    synced = Anchor(hub_ms=NOW_MS, boot="b", elapsed_ms=0)
    month = 30 * DAY_MS
    drifted = clock.estimate(NOW_MS + month + 3 * MINUTE_MS, 0, ("b", month), synced, None)
    assert drifted.now_ms == NOW_MS + month + 3 * MINUTE_MS and drifted.jump_ms == 0
    moved = clock.estimate(NOW_MS + month + 10 * MINUTE_MS, 0, ("b", month), synced, None)
    assert moved.now_ms == NOW_MS + month and moved.jump_ms == 10 * MINUTE_MS
