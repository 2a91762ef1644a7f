"""A tablet whose work waits in quarantine at the hub for the hub's clock (stamped ahead after a
clock set forward and a reboot) keeps showing that work, says it waits rather than that it was
refused, and stops listing it once the hub has merged it."""

from __future__ import annotations

from device_agent import visit
from hub.app import store_of
from sync.ops import SET

from .test_clock_jump import HOUR_MS, field, tablet  # noqa: F401 (fixtures)


def test_work_waiting_at_the_hub_stays_on_the_tablet_when_its_job_comes_back_whole(field, tablet):  # noqa: F811
    store = store_of(field.hub)
    tablet.close()
    field.set_by_ms = HOUR_MS
    field.reboot()  # in the new boot nothing tells the jump from time that passed
    with field.tablet() as rebooted:
        visit.accept(rebooted, "job-1")
        assert [r["clock_ahead"] for r in rebooted.sync().rejected] == [True]
        assert [r["waits_for_hub_clock"] for r in rebooted.status()["refused_by_hub"]] == [True]
        # job-1 goes to another technician and comes back: the tablet receives it whole, as the
        # hub holds it — without the acceptance waiting there, which the tablet keeps on top.
        store.write([("job", "job-1", SET, "technician_id", "tech-9")])
        rebooted.sync()
        store.write([("job", "job-1", SET, "technician_id", "tech-1")])
        rebooted.sync()
        assert rebooted.replica.entity("job", "job-1")["status"] == "accepted"

        field.wait(HOUR_MS)  # the hub's clock catches up: its next hello merges the acceptance
        rebooted.sync()
        assert rebooted.status()["refused_by_hub"] == []
        assert store.replica.entity("job", "job-1")["status"] == "accepted"
        assert rebooted.replica.canonical([("job", "job-1")]) == store.replica.canonical([("job", "job-1")])


def test_a_rejection_whose_reply_was_lost_is_learnt_from_the_next_hello(field, tablet):  # noqa: F811
    tablet.close()
    field.set_by_ms = HOUR_MS
    field.reboot()
    with field.tablet() as rebooted:
        visit.accept(rebooted, "job-1")
        rebooted._remember_rejections = lambda rejected: None  # as if the push reply never arrived
        rebooted.sync()
        assert rebooted.status()["refused_by_hub"] == []
        del rebooted._remember_rejections
        rebooted.sync()
        assert [r["id"] for r in rebooted.status()["refused_by_hub"]] == [f"{rebooted.config.node}:1"]


def test_a_hub_that_does_not_say_what_it_holds_leaves_the_list_as_it_was(field, tablet, monkeypatch):  # noqa: F811
    import hub.quarantine

    monkeypatch.setattr(hub.quarantine, "held_for", lambda store, node: {})  # a hello reply of before
    tablet.close()
    field.set_by_ms = HOUR_MS
    field.reboot()
    with field.tablet() as rebooted:
        visit.accept(rebooted, "job-1")
        rebooted.sync()
        field.wait(HOUR_MS)
        rebooted.sync()
        assert store_of(field.hub).replica.quarantined() == []
        assert [r["waits_for_hub_clock"] for r in rebooted.status()["refused_by_hub"]] == [True]
