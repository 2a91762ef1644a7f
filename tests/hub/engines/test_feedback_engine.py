"""The feedback engine as the office lives it, on a frozen clock: a ticket closes and its CSAT goes
out; a sign-off made offline and synced hours later gets its NPS 24 h after it was signed;
surveys expire; unhappy customers get a call; a second run writes nothing."""

import time
from datetime import datetime

import pytest
from freezegun import freeze_time

from hub import office_records
from hub.engines import feedback
from hub.engines.feedback import ENGINE
from sync import hlc
from sync.ops import APPEND, MOVE, SET, VOID, Op, to_wire

SHA = "ab" * 32


@pytest.fixture
def frozen():
    with freeze_time("2026-11-27T09:00:00Z") as frozen:
        yield frozen


@pytest.fixture
def clock(frozen):
    """The hub's clock is the wall clock, frozen by freezegun."""
    return lambda: int(time.time() * 1000)


def ms(iso):
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def run(store):
    return ENGINE.run(store, store.now_ms())


def survey(store, eid):
    return office_records.view(store, "survey", eid)


def close_ticket(store, ticket="tkt-1"):
    store.write([("ticket", ticket, MOVE, "status", "resolved"), ("ticket", ticket, MOVE, "status", "closed")])


def sign_at_hub(store, job="job-1", signed_at="2026-11-27T10:00:00+00:00", eid=None):
    """A sign-off the office typed in from a paper form: its signed_at is taken as given."""
    return store.write([("signature", eid or f"sig-{job}", APPEND, "", {
        "job_id": job, "signer_name": "J. Smith", "image_sha256": SHA, "summary_sha256": SHA,
        "signed_at": signed_at})])[0]


def test_closing_a_ticket_sends_its_csat_survey_at_once_to_the_primary_contact(client, office, seeded, frozen):
    seeded.write([("contact", "ct-1", SET, "customer_id", "cust-1"), ("contact", "ct-1", SET, "name", "Gina Moss"),
                  ("contact", "ct-1", SET, "email", "gina@harbour.example"), ("contact", "ct-1", SET, "primary", True)])
    run(seeded)
    assert survey(seeded, "csat-tkt-1") is None
    frozen.move_to("2026-11-27T11:30:00Z")
    for status in ("resolved", "closed"):
        assert client.post("/api/v1/tickets/tkt-1/status", json={"status": status}, headers=office).status_code == 200
    assert run(seeded) > 0
    made = survey(seeded, "csat-tkt-1")
    assert made["kind"] == "csat" and made["customer_id"] == "cust-1" and made["ticket_id"] == "tkt-1"
    assert made["status"] == "sent"
    assert made["due_at"] == made["sent_at"] == "2026-11-27T11:30:00.000+00:00"
    [message] = feedback.settings(seeded).sender.sent
    assert (message.survey_id, message.to, message.scale) == ("csat-tkt-1", "gina@harbour.example", (1, 5))
    assert message.respond_path == "/api/v1/portal/surveys/csat-tkt-1/response"
    frozen.tick(60)
    assert run(seeded) == 0
    assert len(feedback.settings(seeded).sender.sent) == 1


def test_an_offline_sign_off_synced_late_gets_its_nps_24_hours_after_it_was_signed(client, seeded, device, frozen):
    dev, token = device
    # The tablet's clock runs 7 minutes slow; its agent stamps ops with the hub's time as measured at
    # its last sync. The customer signs at 10:07 hub time (10:00 on the tablet), offline.
    signed = Op(dev.node, 1, hlc.pack(ms("2026-11-27T10:07:00+00:00")), "signature", "sig-1", APPEND, "", {
        "job_id": "job-1", "signer_name": "J. Smith", "image_sha256": SHA, "summary_sha256": SHA,
        "signed_at": "2026-11-27T10:00:00+00:00"})
    frozen.move_to("2026-11-27T16:00:00Z")  # the tablet finds a network; the hub measures it 7 min slow
    hello = client.post("/api/v1/sync/hello", json={"device_now_ms": ms("2026-11-27T15:53:00+00:00")},
                        headers={"Authorization": f"Bearer {token}"})
    assert hello.json["clock_offset_ms"] == 7 * 60 * 1000
    reply = client.post("/api/v1/sync/push", json={"ops": [to_wire(signed)]},
                        headers={"Authorization": f"Bearer {token}"})
    assert reply.json["accepted"] == 1
    run(seeded)
    assert survey(seeded, "nps-job-1") is None
    frozen.move_to("2026-11-28T10:06:59Z")  # 24 h after the tablet's clock, not yet after the signing
    run(seeded)
    assert survey(seeded, "nps-job-1") is None
    frozen.move_to("2026-11-28T10:07:00Z")  # 24 h after the signing, long before 24 h after the sync
    run(seeded)
    made = survey(seeded, "nps-job-1")
    assert made["kind"] == "nps" and made["job_id"] == "job-1" and made["ticket_id"] == "tkt-1"
    assert made["customer_id"] == "cust-1" and made["status"] == "sent"
    assert made["due_at"] == made["sent_at"] == "2026-11-28T10:07:00.000+00:00"
    assert feedback.settings(seeded).sender.ids() == ["nps-job-1"]


def test_a_sign_off_synced_days_late_is_surveyed_at_once(seeded, frozen):
    sign_at_hub(seeded, signed_at="2026-11-24T10:00:00+00:00")
    run(seeded)
    made = survey(seeded, "nps-job-1")
    assert made["due_at"] == "2026-11-25T10:00:00.000+00:00"
    assert made["sent_at"] == "2026-11-27T09:00:00.000+00:00" and made["status"] == "sent"


def test_a_sign_off_voided_before_its_survey_is_due_is_never_surveyed(seeded, frozen):
    op = sign_at_hub(seeded)
    seeded.write([("signature", "sig-job-1", VOID, "", "signed on the wrong job", [op.id])])
    frozen.move_to("2026-11-29T09:00:00Z")
    run(seeded)
    assert survey(seeded, "nps-job-1") is None
    assert feedback.settings(seeded).sender.sent == []


def test_a_survey_the_sender_could_not_deliver_stays_pending_and_goes_at_the_next_run(seeded, frozen):
    feedback.settings(seeded).sender.fail_next = 1
    close_ticket(seeded)
    run(seeded)
    assert survey(seeded, "csat-tkt-1")["status"] == "pending"
    frozen.tick(300)
    run(seeded)
    assert survey(seeded, "csat-tkt-1")["status"] == "sent"
    assert survey(seeded, "csat-tkt-1")["sent_at"] == "2026-11-27T09:05:00.000+00:00"


def test_an_unanswered_survey_expires_14_days_after_it_was_sent(client, office, seeded, frozen):
    close_ticket(seeded)
    run(seeded)
    frozen.move_to("2026-12-11T08:59:59Z")
    assert run(seeded) == 0
    assert survey(seeded, "csat-tkt-1")["status"] == "sent"
    frozen.move_to("2026-12-11T09:00:00Z")
    late = client.post("/api/v1/surveys/csat-tkt-1/response", json={"score": 5}, headers=office)
    assert late.status_code == 409 and late.json["errors"][0]["field"] == "status"
    assert run(seeded) == 1
    assert survey(seeded, "csat-tkt-1")["status"] == "expired"
    assert run(seeded) == 0


def test_the_expiry_is_configurable(seeded, frozen):
    feedback.configure(seeded, config=feedback.FeedbackConfig(expire_after_ms=3 * 24 * 3600 * 1000))
    close_ticket(seeded)
    run(seeded)
    frozen.move_to("2026-11-30T09:00:00Z")
    run(seeded)
    assert survey(seeded, "csat-tkt-1")["status"] == "expired"


def test_a_detractor_gets_one_follow_up_call_due_within_24_hours(client, office, seeded, frozen):
    sign_at_hub(seeded)
    frozen.move_to("2026-11-28T10:00:00Z")
    run(seeded)
    frozen.move_to("2026-11-28T14:00:00Z")
    reply = client.post("/api/v1/surveys/nps-job-1/response", json={"score": 6, "comment": "late again"},
                        headers=office)
    assert reply.status_code == 200
    assert reply.json["data"]["category"] == "detractor" and reply.json["data"]["status"] == "answered"
    assert reply.json["follow_up_task_id"] == "follow-up-nps-job-1"
    assert run(seeded) > 0  # the account's health moves
    assert run(seeded) == 0
    tasks = client.get("/api/v1/tasks?kind=detractor_follow_up", headers=office).json["data"]
    assert len(tasks) == 1
    task = tasks[0]
    assert task["assignee_role"] == "customer_success" and task["status"] == "open"
    assert task["subject_entity"] == "survey" and task["subject_id"] == "nps-job-1"
    assert task["due_at"] == "2026-11-29T14:00:00.000+00:00"
    assert task["title"] == "Call Harbour Hotel: NPS 6 (detractor)"


def test_a_passive_gets_no_call(client, office, seeded, frozen):
    sign_at_hub(seeded)
    frozen.move_to("2026-11-28T10:00:00Z")
    run(seeded)
    reply = client.post("/api/v1/surveys/nps-job-1/response", json={"score": 7}, headers=office)
    assert reply.json["data"]["category"] == "passive" and reply.json["follow_up_task_id"] is None
    run(seeded)
    assert client.get("/api/v1/tasks", headers=office).json["data"] == []


def test_account_health_worked_by_hand_from_answers_breaches_and_repeat_work(client, office, seeded, frozen):
    # cust-1: tkt-0 (11-10) and tkt-1 (11-27, from the seed) both on asset-1: tkt-1 is a repeat.
    seeded.write([("ticket", "tkt-0", SET, name, value) for name, value in {
        "customer_id": "cust-1", "asset_id": "asset-1", "title": "Noisy fan", "opened_at": "2026-11-10T08:00:00+00:00",
    }.items()])
    # Four jobs on tkt-1, each signed off at the hub at noon.
    for job in ("job-a", "job-b", "job-c", "job-d"):
        seeded.write([("job", job, SET, "work_order_id", "wo-1"), ("job", job, SET, "ticket_id", "tkt-1")])
        sign_at_hub(seeded, job=job, signed_at="2026-11-27T12:00:00+00:00")
    frozen.move_to("2026-11-27T17:00:00Z")
    close_ticket(seeded, "tkt-0")
    close_ticket(seeded, "tkt-1")
    # The SLA engine's picture of tkt-1: its resolution clock breached at 16:00.
    seeded.write([("ticket", "tkt-1", SET, "sla", {"resolution": {"state": "breached",
                                                                  "due_at": "2026-11-27T16:00:00+00:00"}})])
    run(seeded)
    for survey_id, score in (("csat-tkt-0", 5), ("csat-tkt-1", 4)):
        assert client.post(f"/api/v1/surveys/{survey_id}/response", json={"score": score},
                           headers=office).status_code == 200
    frozen.move_to("2026-11-28T12:00:00Z")
    run(seeded)
    for job, score in (("job-a", 10), ("job-b", 9), ("job-c", 6), ("job-d", 3)):
        assert client.post(f"/api/v1/surveys/nps-{job}/response", json={"score": score},
                           headers=office).status_code == 200
    run(seeded)
    # NPS (2 - 2) / 4 = 0 -> 50; CSAT 4.5 -> 87.5; satisfaction 68.75; one breach -> 80; one repeat
    # -> 75; (60 * 68.75 + 25 * 80 + 15 * 75) / 100 = 72.5 -> 73. A month and two months ago the
    # account had nothing against it: 100, 100, 73 is a fall.
    assert seeded.replica.entity("customer", "cust-1")["health"] == {
        "score": 73, "nps": 0.0, "nps_responses": 4, "csat": 4.5, "csat_responses": 2, "sla_breaches": 1,
        "repeat_tickets": 1, "trend": "deteriorating", "history": [100, 100, 73], "window_days": 90}
    assert run(seeded) == 0
    assert len(client.get("/api/v1/tasks", headers=office).json["data"]) == 2  # the 6 and the 3
