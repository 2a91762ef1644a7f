"""Property: the order in which the same work reaches the hub does not change the feedback.

An office and two tablets record tickets (some closed, some with a breached SLA), jobs and
sign-offs; the hub receives those ops in any order, in any batches, running the engine after
each batch or not; then the same customers answer. The surveys, the follow-up calls and every
account's health come out the same as when everything arrived at once, in order.
"""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import office_records
from hub.config import HubConfig
from hub.engines import feedback
from hub.engines.feedback import ENGINE
from hub.engines.feedback_rules import SCALES
from hub.engines.feedback_state import iso
from hub.engines.feedback_surveys import answer
from hub.store import HubStore
from schema import REGISTRY
from sync.memory import MemoryReplica
from sync.ops import APPEND, MOVE, SET

from ..conftest import NOW_MS

HOUR = 3600 * 1000
DAY = 24 * HOUR
NOW = NOW_MS + 20 * DAY
SHA = "ef" * 32

TICKETS = st.fixed_dictionaries({
    "customer": st.sampled_from(["cust-a", "cust-b"]),
    "asset": st.sampled_from(["asset-1", "asset-2", None]),
    "opened_days": st.integers(1, 60),  # before NOW
    "closed_after_h": st.none() | st.integers(1, 100),
    "breached": st.booleans(),
})
JOBS = st.fixed_dictionaries({
    "ticket": st.integers(0, 3),
    "signed_h": st.none() | st.integers(1, 20 * 24),  # hours before NOW, on the hub's clock
    "tablet": st.sampled_from(["tab-a", "tab-b"]),
    "skew_min": st.integers(-30, 30),  # the tablet's clock minus the hub's
})


def author(tickets, jobs):
    """The scenario's ops, each authored at its moment by the office or a tablet."""
    writes = [(0, "office", ("customer", c, SET, "name", c.upper())) for c in ("cust-a", "cust-b")]
    for i, ticket in enumerate(tickets):
        tid, opened = f"tkt-{i}", NOW - ticket["opened_days"] * DAY
        fields = {"customer_id": ticket["customer"], "title": f"Fault {i}", "opened_at": iso(opened),
                  "asset_id": ticket["asset"]}
        writes += [(opened, "office", ("ticket", tid, SET, name, value)) for name, value in fields.items() if value]
        if ticket["breached"]:
            writes.append((opened + 8 * HOUR, "office", ("ticket", tid, SET, "sla", {
                "resolution": {"state": "breached", "due_at": iso(opened + 8 * HOUR)}})))
        if ticket["closed_after_h"] is not None:
            closed = min(opened + ticket["closed_after_h"] * HOUR, NOW - HOUR)
            writes += [(closed, "office", ("ticket", tid, MOVE, "status", "resolved")),
                       (closed + 1, "office", ("ticket", tid, MOVE, "status", "closed"))]
    for j, job in enumerate(jobs):
        ticket_ix = job["ticket"] % len(tickets)
        opened = NOW - tickets[ticket_ix]["opened_days"] * DAY
        writes += [(opened, "office", ("job", f"job-{j}", SET, "ticket_id", f"tkt-{ticket_ix}")),
                   (opened, "office", ("job", f"job-{j}", SET, "work_order_id", f"wo-{ticket_ix}"))]
        if job["signed_h"] is not None:
            at = NOW - job["signed_h"] * HOUR
            writes.append((at, job["tablet"], ("signature", f"sig-{j}", APPEND, "", {
                "job_id": f"job-{j}", "signer_name": "Customer", "image_sha256": SHA, "summary_sha256": SHA,
                "signed_at": iso(at + job["skew_min"] * 60_000)})))
    authors = {name: MemoryReplica(name, REGISTRY) for name in ("office", "tab-a", "tab-b")}
    return [authors[who].write(at, *change) for at, who, change in sorted(writes, key=lambda w: w[0])]


def hub(folder):
    return HubStore(HubConfig(database=Path(folder) / "hub.db", clock=lambda: NOW))


def answer_all(store):
    """Every customer answers every survey it was sent, with a score fixed by the survey's id."""
    for survey_id in sorted(store.replica.entity_ids("survey")):
        survey = office_records.view(store, "survey", survey_id)
        if survey["status"] == "sent":
            low, high = SCALES[survey["kind"]]
            score = low + sum(map(ord, survey_id)) % (high - low + 1)
            answer(store, survey_id, score, None, NOW, feedback.settings(store).config)


def outcome(store):
    with store.reading():
        return {
            "surveys": {eid: office_records.view(store, "survey", eid) for eid in store.replica.entity_ids("survey")},
            "tasks": {eid: office_records.view(store, "task", eid) for eid in store.replica.entity_ids("task")},
            "health": {eid: office_records.view(store, "customer", eid)["health"]
                       for eid in store.replica.entity_ids("customer")},
            "sent": sorted(feedback.settings(store).sender.ids()),
        }


def finish(store):
    ENGINE.run(store, NOW)
    answer_all(store)
    ENGINE.run(store, NOW)
    assert ENGINE.run(store, NOW) == 0
    return outcome(store)


# Each example opens two hubs (on PostgreSQL, two schemas): like the other engines' order
# properties, fewer examples than the merge laws' 200, which run on bare replicas.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TICKETS, min_size=1, max_size=4), st.lists(JOBS, max_size=4), st.data())
def test_arrival_order_and_batching_do_not_change_surveys_calls_or_health(tickets, jobs, data):
    ops = author(tickets, jobs)
    order = data.draw(st.permutations(range(len(ops))), label="order")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ops)), max_size=4), label="cuts"))
    run_between = data.draw(st.booleans(), label="run the engine after each batch")
    with tempfile.TemporaryDirectory() as folder:
        reference = hub(folder)
        try:
            reference.replica.ingest(ops, NOW)
            expected = finish(reference)
        finally:
            reference.close()
    with tempfile.TemporaryDirectory() as folder:
        store = hub(folder)
        try:
            shuffled = [ops[i] for i in order]
            for start, end in zip([0, *cuts], [*cuts, len(ops)], strict=True):
                store.replica.ingest(shuffled[start:end], NOW)
                if run_between:
                    ENGINE.run(store, NOW)
            assert finish(store) == expected
        finally:
            store.close()
