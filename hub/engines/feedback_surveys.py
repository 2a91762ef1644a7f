"""Surveys and follow-up tasks: which should exist, sending them, expiring them, answering them.

Ids are deterministic — ``csat-<ticket>``, ``nps-<job>``, ``follow-up-<survey>`` — so whoever
runs the engine, however often and in whatever order the work arrived, there is one survey per
closed ticket, one per signed job and one call per unhappy answer. Planning functions return the
ops to write and write nothing themselves; the engine writes them in one transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from sync.ops import MOVE, SET

from .. import office_records
from ..errors import ApiError
from ..store import HubStore
from .feedback_rules import QUESTIONS, SCALES, FeedbackConfig, categorise, expired, needs_follow_up, score_problem
from .feedback_sender import SendError, SurveyMessage, SurveySender
from .feedback_state import closed_tickets, iso, job_customer, parse_ms, reached_ms, recipient, signoffs

log = logging.getLogger(__name__)

Change = tuple[Any, ...]
FOLLOW_UP_KIND = "detractor_follow_up"
FOLLOW_UP_ROLE = "customer_success"
# The fields the engine derives from the work; the rest (sent_at, the answer) record what happened.
DERIVED = ("kind", "customer_id", "ticket_id", "job_id", "due_at")


def wanted_surveys(store: HubStore, config: FeedbackConfig) -> dict[str, dict[str, Any]]:
    """Every survey the work calls for, created or not: a CSAT per closed ticket, due when it
    closed; an NPS per signed job, due 24 h after the first standing sign-off."""
    wanted: dict[str, dict[str, Any]] = {}
    for ticket_id, (customer_id, closed) in closed_tickets(store).items():
        wanted[f"csat-{ticket_id}"] = {"kind": "csat", "customer_id": customer_id, "ticket_id": ticket_id,
                                       "job_id": None, "due_at": iso(closed + config.csat_delay_ms)}
    for job_id, signed in signoffs(store).items():
        owner = job_customer(store, job_id)
        if owner is not None:
            wanted[f"nps-{job_id}"] = {"kind": "nps", "customer_id": owner[0], "ticket_id": owner[1],
                                       "job_id": job_id, "due_at": iso(signed + config.nps_delay_ms)}
    return wanted


def plan_surveys(store: HubStore, now_ms: int, config: FeedbackConfig) -> list[Change]:
    """Ops that create the surveys now called for, keep them in line with the work, cancel pending
    ones whose reason went away (a sign-off voided before its survey went out; one already sent is
    not recalled) and expire unanswered ones."""
    wanted = wanted_surveys(store, config)
    changes: list[Change] = []
    for survey_id, fields in sorted(wanted.items()):
        current = office_records.view(store, "survey", survey_id)
        if current is None:
            # An NPS survey exists only from its due time: before that the sign-off may still be voided.
            due = parse_ms(fields["due_at"])
            if fields["kind"] == "nps" and (due is None or now_ms < due):
                continue
            changes += [("survey", survey_id, SET, name, value) for name, value in fields.items() if value is not None]
        else:
            # Kept in line whatever the survey's status: a ticket moved to another customer, or an
            # earlier sign-off synced late, must give the same surveys as if known from the start.
            changes += [("survey", survey_id, SET, name, fields[name]) for name in DERIVED
                        if current[name] != fields[name]]
    for survey_id in sorted(store.replica.entity_ids("survey")):
        current = office_records.view(store, "survey", survey_id)
        if current is None:
            continue
        if current["status"] == "pending" and survey_id not in wanted:
            changes.append(("survey", survey_id, MOVE, "status", "cancelled"))
        sent = parse_ms(current["sent_at"])
        if current["status"] == "sent" and sent is not None and expired(sent, now_ms, config):
            changes.append(("survey", survey_id, MOVE, "status", "expired"))
    return changes


def follow_up_task(store: HubStore, survey: dict[str, Any], answered_ms: int,
                   config: FeedbackConfig) -> list[Change]:
    """Ops creating the Customer Success call for an unhappy answer (once: its id is the survey's),
    or keeping an existing one in line with the survey."""
    category = categorise(survey["kind"], survey["score"])
    if not needs_follow_up(category):
        return []
    task_id = f"follow-up-{survey['id']}"
    current = office_records.view(store, "task", task_id)
    fields = {"kind": FOLLOW_UP_KIND, "customer_id": survey["customer_id"], "subject_entity": "survey",
              "subject_id": survey["id"], "assignee_role": FOLLOW_UP_ROLE,
              "due_at": iso(answered_ms + config.follow_up_within_ms)}
    if current is None:
        customer = office_records.view(store, "customer", survey["customer_id"]) or {}
        title = f"Call {customer.get('name') or survey['customer_id']}: {survey['kind'].upper()} {survey['score']}"
        fields["title"] = f"{title} ({category})"[:200]
    # The title is written once; the rest follows the survey (its customer may be corrected).
    return [("task", task_id, SET, name, value) for name, value in fields.items()
            if current is None or current[name] != value]


def plan_follow_ups(store: HubStore, answered: list[tuple[dict[str, Any], int]],
                    config: FeedbackConfig) -> list[Change]:
    """Ops for every answered survey: its category in line with its score, and a follow-up call
    for a detractor or a dissatisfied customer, once."""
    changes: list[Change] = []
    for survey, at in answered:
        category = categorise(survey["kind"], survey["score"])
        if survey["category"] != category:
            changes.append(("survey", survey["id"], SET, "category", category))
        changes += follow_up_task(store, survey, at, config)
    return changes


def respond_path(survey_id: str) -> str:
    return f"/api/v1/portal/surveys/{survey_id}/response"


def due_messages(store: HubStore, now_ms: int) -> list[SurveyMessage]:
    """Invitations for the pending surveys whose time has come."""
    messages = []
    for survey_id in store.replica.entity_ids("survey"):
        survey = office_records.view(store, "survey", survey_id)
        due = parse_ms(survey["due_at"]) if survey else None
        if survey is None or survey["status"] != "pending" or due is None or due > now_ms:
            continue
        name, address = recipient(store, survey["customer_id"])
        messages.append(SurveyMessage(survey_id, survey["kind"], survey["customer_id"], name, address,
                                      QUESTIONS[survey["kind"]], SCALES[survey["kind"]], survey["ticket_id"],
                                      survey["job_id"], respond_path(survey_id)))
    return messages


def deliver(store: HubStore, now_ms: int, sender: SurveySender) -> int:
    """Send the due surveys and mark each sent (with ``sent_at``) once its sender returns. The
    sender runs outside the store's lock: a slow mail server must not stop the hub's syncs."""
    with store.reading():
        messages = due_messages(store, now_ms)
    written = 0
    for message in messages:
        try:
            sender.send(message)
        except SendError as exc:
            log.warning("%s", exc)
            continue
        with store.unit_of_work():
            current = office_records.view(store, "survey", message.survey_id)
            if current is not None and current["status"] == "pending":
                written += len(store.write([("survey", message.survey_id, SET, "sent_at", iso(now_ms)),
                                            ("survey", message.survey_id, MOVE, "status", "sent")]))
    return written


def answer(store: HubStore, survey_id: str, score: Any, comment: str | None, now_ms: int,
           config: FeedbackConfig, *, customer_id: str | None = None) -> tuple[dict[str, Any], str | None]:
    """Record a customer's answer: the score checked against the survey's scale, its category,
    and at once the follow-up call it calls for. ``customer_id`` limits it to that customer's
    surveys (the portal): another's answers 404 exactly like a missing one. Returns the survey
    and the id of the follow-up task the answer calls for, if any."""
    with store.unit_of_work():
        survey = office_records.view(store, "survey", survey_id)
        if survey is None or (customer_id is not None and survey["customer_id"] != customer_id):
            raise ApiError(404, f"no survey {survey_id!r}", [("id", "no survey of yours with this id")],
                           hint="list the surveys awaiting an answer with GET /api/v1/portal/surveys")
        problem = score_problem(survey["kind"], score)
        if problem is not None:
            raise ApiError(400, "the request is not valid", [("score", problem)], hint="send a score on the scale")
        sent = parse_ms(survey["sent_at"])
        if survey["status"] == "sent" and sent is not None and expired(sent, now_ms, config):
            raise ApiError(409, f"survey {survey_id} has expired", [("status", "the time to answer it has passed")])
        if survey["status"] != "sent":
            why = "it has not been sent yet" if survey["status"] == "pending" else f"it is {survey['status']}"
            raise ApiError(409, f"survey {survey_id} cannot be answered", [("status", why)],
                           hint="a survey is answered once, after it was sent and before it expires")
        category = categorise(survey["kind"], score)
        changes: list[Change] = [("survey", survey_id, SET, "score", score), ("survey", survey_id, SET, "category",
                                                                             category)]
        if comment:
            changes.append(("survey", survey_id, SET, "comment", comment))
        store.write([*changes, ("survey", survey_id, MOVE, "status", "answered")])
        answered = office_records.view(store, "survey", survey_id)
        at = reached_ms(store, "survey", survey_id, "answered")
        assert answered is not None and at is not None  # just written, in this transaction
        follow_up = follow_up_task(store, answered, at, config)
        if follow_up:
            store.write(follow_up)
        return answered, (f"follow-up-{survey_id}" if needs_follow_up(category) else None)
