"""Answering surveys and reading the feedback report: a customer answers only its own surveys in
the portal, office staff answer on a customer's behalf, scores are checked against the survey's
scale, and Customer Success sees NPS, CSAT trends and who is waiting for a call."""

import pytest

from hub import auth
from hub.engines import feedback
from hub.engines.feedback import ENGINE
from sync.ops import APPEND, MOVE, SET

from ..conftest import NOW_MS

SHA = "cd" * 32
HOUR = 3600 * 1000


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def surveyed(seeded, clock):
    """tkt-1 closed and job-1 signed off a day ago: a CSAT and an NPS survey sent to cust-1, and a
    second customer with a survey of its own."""
    seeded.write([
        ("signature", "sig-1", APPEND, "", {"job_id": "job-1", "signer_name": "J. Smith", "image_sha256": SHA,
                                            "summary_sha256": SHA, "signed_at": "2026-11-26T08:00:00+00:00"}),
        ("ticket", "tkt-1", MOVE, "status", "resolved"), ("ticket", "tkt-1", MOVE, "status", "closed"),
        ("customer", "cust-2", SET, "name", "Quay Bakery"),
        ("ticket", "tkt-2", SET, "customer_id", "cust-2"), ("ticket", "tkt-2", SET, "title", "Oven door"),
        ("ticket", "tkt-2", SET, "opened_at", "2026-11-26T08:00:00+00:00"),
        ("ticket", "tkt-2", MOVE, "status", "resolved"), ("ticket", "tkt-2", MOVE, "status", "closed"),
    ])
    ENGINE.run(seeded, clock())
    return seeded


@pytest.fixture
def harbour(store):
    return bearer(auth.create_user(store, "harbour", ["service_management:read", "service_management:write"],
                                   "cust-1"))


@pytest.fixture
def bakery(store):
    return bearer(auth.create_user(store, "bakery", ["service_management:read", "service_management:write"],
                                   "cust-2"))


def test_a_portal_customer_sees_and_answers_only_its_own_surveys(client, surveyed, harbour, bakery):
    mine = client.get("/api/v1/portal/surveys?status=sent", headers=harbour).json["data"]
    assert sorted(s["id"] for s in mine) == ["csat-tkt-1", "nps-job-1"]
    theirs = client.post("/api/v1/portal/surveys/nps-job-1/response", json={"score": 10}, headers=bakery)
    assert theirs.status_code == 404 and theirs.json["errors"][0]["field"] == "id"
    reply = client.post("/api/v1/portal/surveys/nps-job-1/response", json={"score": 10, "comment": "quick fix"},
                        headers=harbour)
    assert reply.status_code == 200
    assert reply.json["data"]["status"] == "answered" and reply.json["data"]["category"] == "promoter"
    assert reply.json["data"]["comment"] == "quick fix"
    assert client.post("/api/v1/portal/surveys/csat-tkt-2/response", json={"score": 5},
                       headers=bakery).status_code == 200


def test_the_portal_and_the_office_routes_keep_to_their_own_users(client, surveyed, harbour, office):
    assert client.post("/api/v1/surveys/nps-job-1/response", json={"score": 9}, headers=harbour).status_code == 403
    assert client.post("/api/v1/portal/surveys/nps-job-1/response", json={"score": 9},
                       headers=office).status_code == 403
    assert client.get("/api/v1/surveys", headers=harbour).status_code == 403


@pytest.mark.parametrize(("kind_id", "score", "category", "called"), [
    ("nps-job-1", 0, "detractor", True), ("nps-job-1", 6, "detractor", True), ("nps-job-1", 7, "passive", False),
    ("nps-job-1", 8, "passive", False), ("nps-job-1", 9, "promoter", False), ("nps-job-1", 10, "promoter", False),
    ("csat-tkt-1", 1, "dissatisfied", True), ("csat-tkt-1", 2, "dissatisfied", True),
    ("csat-tkt-1", 3, "neutral", False), ("csat-tkt-1", 5, "satisfied", False)])
def test_each_answer_is_categorised_and_only_the_unhappy_get_a_call(client, surveyed, office, kind_id, score,
                                                                     category, called):
    reply = client.post(f"/api/v1/surveys/{kind_id}/response", json={"score": score}, headers=office)
    assert reply.status_code == 200 and reply.json["data"]["category"] == category
    tasks = client.get("/api/v1/tasks?status=open", headers=office).json["data"]
    assert [t["subject_id"] for t in tasks] == ([kind_id] if called else [])


@pytest.mark.parametrize(("survey_id", "body", "field"), [
    ("nps-job-1", {"score": 11}, "score"), ("nps-job-1", {"score": -1}, "score"),
    ("nps-job-1", {"score": "9"}, "score"), ("nps-job-1", {"score": 8.5}, "score"),
    ("nps-job-1", {"score": True}, "score"), ("csat-tkt-1", {"score": 6}, "score"),
    ("csat-tkt-1", {"score": 0}, "score"), ("nps-job-1", {}, "score"),
    ("nps-job-1", {"score": 9, "mood": "x"}, "mood"), ("nps-job-1", {"score": 9, "comment": "x" * 2001}, "comment")])
def test_a_bad_answer_is_refused_with_the_field_named_and_nothing_changes(client, surveyed, office, survey_id, body,
                                                                           field):
    reply = client.post(f"/api/v1/surveys/{survey_id}/response", json=body, headers=office)
    assert reply.status_code == 400
    assert field in [e["field"] for e in reply.json["errors"]]
    assert client.get(f"/api/v1/surveys?status=sent&kind={survey_id[:survey_id.index('-')]}",
                      headers=office).json["count"] >= 1


def test_a_survey_is_answered_once(client, surveyed, office, harbour):
    assert client.post("/api/v1/surveys/nps-job-1/response", json={"score": 3}, headers=office).status_code == 200
    again = client.post("/api/v1/portal/surveys/nps-job-1/response", json={"score": 10}, headers=harbour)
    assert again.status_code == 409 and again.json["errors"] == [{"field": "status", "reason": "it is answered"}]
    assert len(client.get("/api/v1/tasks", headers=office).json["data"]) == 1


def test_a_survey_not_yet_sent_cannot_be_answered(client, seeded, office, clock):
    feedback.settings(seeded).sender.fail_next = 1
    seeded.write([("ticket", "tkt-1", MOVE, "status", "resolved"), ("ticket", "tkt-1", MOVE, "status", "closed")])
    ENGINE.run(seeded, clock())
    reply = client.post("/api/v1/surveys/csat-tkt-1/response", json={"score": 4}, headers=office)
    assert reply.status_code == 409
    assert reply.json["errors"] == [{"field": "status", "reason": "it has not been sent yet"}]


def test_the_report_shows_nps_csat_trend_and_the_detractors_waiting_for_their_call(client, surveyed, office, clock):
    for survey_id, body in (("nps-job-1", {"score": 4, "comment": "took two visits"}),
                            ("csat-tkt-1", {"score": 4}), ("csat-tkt-2", {"score": 2})):
        clock.ms += 60_000
        assert client.post(f"/api/v1/surveys/{survey_id}/response", json=body, headers=office).status_code == 200
    clock.ms = NOW_MS + 30 * HOUR  # both calls were due 24 h after the answers
    ENGINE.run(surveyed, clock())
    report = client.get("/api/v1/feedback/report", headers=office).json["data"]
    assert report["nps"] == {"nps": -100.0, "responses": 1, "promoters": 0, "passives": 0, "detractors": 1}
    assert report["csat"] == {"average": 3.0, "responses": 2, "satisfied": 1, "neutral": 0, "dissatisfied": 1}
    harbour, bakery = report["accounts"]
    assert harbour["customer_id"] == "cust-1" and harbour["nps"]["nps"] == -100.0
    assert harbour["csat_trend"] == [{"month": "2026-11", "average": 4.0, "responses": 1}]
    assert harbour["health"]["nps"] == -100.0 and harbour["health"]["csat"] == 4.0
    assert bakery["name"] == "Quay Bakery" and bakery["nps"]["nps"] is None
    waiting = report["awaiting_follow_up"]
    assert [(w["survey_id"], w["score"], w["overdue"]) for w in waiting] == [("nps-job-1", 4, True),
                                                                          ("csat-tkt-2", 2, True)]
    assert waiting[0]["comment"] == "took two visits"
    done = client.post(f"/api/v1/tasks/{waiting[0]['task_id']}/status", json={"status": "done"}, headers=office)
    assert done.status_code == 200 and done.json["data"]["status"] == "done"
    report = client.get("/api/v1/feedback/report", headers=office).json["data"]
    assert [w["survey_id"] for w in report["awaiting_follow_up"]] == ["csat-tkt-2"]


def test_the_report_needs_the_report_permission(client, store):
    reader = bearer(auth.create_user(store, "reader", ["service_management:read"]))
    reply = client.get("/api/v1/feedback/report", headers=reader)
    assert reply.status_code == 403
    assert client.get("/api/v1/tasks", headers=reader).status_code == 200
