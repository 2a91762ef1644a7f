"""Where the seeds disagree on when resolution stops — the ticket resolved (service management
flow) or the job completed (field service flow) — the contract chooses. By default the ticket's
resolution counts: the office resolving it, or its work done (the last of its jobs completed, when
the hub resolves it), whichever is first; ``job_completed`` stops at the first job completed."""

from sync.ops import SET

from . import test_sla_support as support
from .test_sla_support import business, dispatch, move, open_ticket, run, sla

hub_time = support.hub_time


def first_visit_at_noon_return_visit_next_morning(store, hub_time):
    open_ticket(store, priority="High")  # opened 08:00; service-management table: resolve in 480 min
    dispatch(store)
    dispatch(store, job="job-2")  # a return visit is planned from the start (parts on order)
    hub_time("2026-11-27T09:00:00Z")
    move(store, "ticket", "tkt-1", "assigned")
    move(store, "job", "job-1", "accepted", "en_route", "on_site")
    hub_time("2026-11-27T12:00:00Z")
    move(store, "job", "job-1", "completed")  # 240 min after opening
    run(store)
    hub_time("2026-11-28T09:00:00Z")
    move(store, "job", "job-2", "accepted", "en_route", "on_site", "completed")  # 1500 min after opening


def test_by_default_resolution_stops_when_the_ticket_s_work_is_done_its_last_job_completed(store, hub_time):
    business(store)
    first_visit_at_noon_return_visit_next_morning(store, hub_time)
    run(store)
    resolution = sla(store)["resolution"]
    assert (resolution["state"], resolution["elapsed_min"], resolution["stopped_by"]) == (
        "missed", 1500.0, "job completed")
    assert store.replica.entity("ticket", "tkt-1")["status"] == "resolved"


def test_by_default_an_office_resolving_the_ticket_before_the_work_is_done_stops_it_then(store, hub_time):
    business(store)
    open_ticket(store, priority="High")
    dispatch(store)
    hub_time("2026-11-27T10:00:00Z")
    move(store, "ticket", "tkt-1", "in_progress", "resolved")  # fixed over the phone: 120 min
    hub_time("2026-11-27T15:00:00Z")
    move(store, "job", "job-1", "cancelled")
    run(store)
    resolution = sla(store)["resolution"]
    assert (resolution["state"], resolution["elapsed_min"], resolution["stopped_by"]) == (
        "met", 120.0, "ticket resolved")


def test_a_contract_may_stop_resolution_at_the_first_completed_job(store, hub_time):
    business(store)
    store.write([("contract", "con-1", SET, "sla_overrides", {"resolution_stops_at": "job_completed"})])
    first_visit_at_noon_return_visit_next_morning(store, hub_time)
    run(store)
    resolution = sla(store)["resolution"]
    # 08:00 -> 12:00 = 240 min of 480: met, whatever happened afterwards.
    assert (resolution["state"], resolution["elapsed_min"], resolution["stopped_by"]) == (
        "met", 240.0, "job completed")
    assert run(store) == 0
