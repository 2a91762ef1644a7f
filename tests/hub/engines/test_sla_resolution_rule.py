"""Where the seeds disagree on when resolution stops — the ticket resolved (service management
flow) or the job completed (field service flow) — the contract chooses."""

from sync.ops import SET

from . import test_sla_support as support
from .test_sla_support import business, dispatch, move, open_ticket, run, sla

hub_time = support.hub_time


def work_done_at_noon_ticket_resolved_next_morning(store, hub_time):
    open_ticket(store, priority="High")  # opened 08:00; service-management table: resolve in 480 min
    dispatch(store)
    hub_time("2026-11-27T09:00:00Z")
    move(store, "job", "job-1", "accepted", "en_route", "on_site")
    hub_time("2026-11-27T12:00:00Z")
    move(store, "job", "job-1", "completed")  # 240 min after opening
    hub_time("2026-11-28T09:00:00Z")
    move(store, "ticket", "tkt-1", "assigned", "in_progress", "resolved")  # 1500 min after opening


def test_by_default_resolution_stops_when_the_ticket_is_resolved(store, hub_time):
    business(store)
    work_done_at_noon_ticket_resolved_next_morning(store, hub_time)
    run(store)
    resolution = sla(store)["resolution"]
    assert (resolution["state"], resolution["elapsed_min"], resolution["stopped_by"]) == (
        "missed", 1500.0, "ticket resolved")


def test_a_contract_may_stop_resolution_at_the_completed_job(store, hub_time):
    business(store)
    store.write([("contract", "con-1", SET, "sla_overrides", {"resolution_stops_at": "job_completed"})])
    work_done_at_noon_ticket_resolved_next_morning(store, hub_time)
    run(store)
    resolution = sla(store)["resolution"]
    # 08:00 -> 12:00 = 240 min of 480: met, whatever the office did afterwards.
    assert (resolution["state"], resolution["elapsed_min"], resolution["stopped_by"]) == (
        "met", 240.0, "job completed")
    assert run(store) == 0
