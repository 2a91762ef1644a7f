"""Customer feedback (field service flow, stage 8; service management flow, "CSAT on close").

The engine, from the merged state and the time it is given:

- creates a CSAT survey for every closed ticket (``csat-<ticket>``), due when it closed, and an
  NPS survey for every signed job (``nps-<job>``) once 24 h have passed since the customer's
  sign-off — counted from the signature's ``signed_at`` on the hub's clock, however late the
  tablet synced it;
- sends the due surveys through a pluggable sender (:mod:`feedback_sender`; an in-memory outbox
  unless one is configured) and marks them sent with ``sent_at``; expires the unanswered ones 14
  days after sending;
- creates one follow-up call (task ``detractor_follow_up`` for ``customer_success``, due 24 h after
  the answer) for each NPS detractor (0-6) or dissatisfied CSAT (1-2 of 5);
- keeps each account's health on ``customer.health`` (see :mod:`feedback_rules` for the formula).

Routes: customers answer in the portal (``POST /api/v1/portal/surveys/<id>/response``), office
staff on their behalf (``POST /api/v1/surveys/<id>/response``); ``GET /api/v1/feedback/report``,
``GET /api/v1/surveys``, ``GET /api/v1/tasks`` and ``POST /api/v1/tasks/<id>/status``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, g
from marshmallow import Schema, fields, validate

from .. import office_records
from ..auth import current_store
from ..office_http import READ, WRITE, doc, json_object, listing, office_required, ok, paging, portal_required, query
from ..store import HubStore
from .feedback_health import plan_health, report
from .feedback_rules import FeedbackConfig
from .feedback_sender import Outbox, SurveySender
from .feedback_state import answered_surveys
from .feedback_surveys import answer, deliver, plan_follow_ups, plan_surveys
from .planning import write_planned

REPORT = "service_management:report"


@dataclass
class Settings:
    """How one hub runs its feedback: the rules' settings and the sender surveys go out through."""

    config: FeedbackConfig = field(default_factory=FeedbackConfig)
    sender: SurveySender = field(default_factory=Outbox)


def configure(store: HubStore, *, config: FeedbackConfig | None = None,
              sender: SurveySender | None = None) -> Settings:
    """Set this hub's feedback settings or sender (what is not given stays as it was)."""
    current = settings(store)
    if config is not None:
        current.config = config
    if sender is not None:
        current.sender = sender
    return current


def settings(store: HubStore) -> Settings:
    """This hub's feedback settings: the defaults and an in-memory :class:`Outbox` until configured."""
    return store.kept(Settings)  # per hub: two in one process (tests, the demo) keep their own outboxes


class FeedbackEngine:
    name = "feedback"

    def run(self, store: HubStore, now_ms: int) -> int:
        """Bring surveys, follow-up calls and account health in line with the state at ``now_ms``,
        then send what is due. Returns the ops written; a second run at the same time writes none."""
        chosen = settings(store)

        def plan(view: HubStore) -> list[list[tuple[Any, ...]]]:
            return [plan_surveys(view, now_ms, chosen.config)
                    + plan_follow_ups(view, answered_surveys(view), chosen.config)
                    + plan_health(view, now_ms, chosen.config)]

        return write_planned(store, plan) + deliver(store, now_ms, chosen.sender)


ENGINE = FeedbackEngine()

bp = Blueprint("feedback", __name__, url_prefix="/api/v1")


class ResponseSchema(Schema):
    # The scale depends on the survey (NPS 0-10, CSAT 1-5): checked against it once it is found.
    score = fields.Raw(required=True, metadata={"type": "integer", "description": "NPS 0-10, CSAT 1-5"})
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 2000))


class TaskStatusSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("done", "cancelled")))


def _answer(survey_id: str, customer_id: str | None):
    store = current_store()
    data = ResponseSchema().load(json_object())
    survey, task_id = answer(store, survey_id, data["score"], data["comment"], store.now_ms(),
                             settings(store).config, customer_id=customer_id)
    return ok(survey, follow_up_task_id=task_id)


@bp.post("/surveys/<survey_id>/response")
@office_required(WRITE)
@doc(tag="feedback", body=ResponseSchema, response="Survey")
def office_response(survey_id: str):
    """Record a customer's answer to a survey on their behalf (a phone call, a paper form)."""
    return _answer(survey_id, None)


@bp.post("/portal/surveys/<survey_id>/response")
@portal_required(WRITE)
@doc(tag="portal", body=ResponseSchema, response="Survey")
def portal_response(survey_id: str):
    """Answer one of your own surveys: a score on its scale and an optional comment."""
    return _answer(survey_id, g.user.customer_id)


SURVEY_FILTERS = {"status": office_records.filterable("survey", "status"), "kind": fields.String(),
                  "category": fields.String()}


@bp.get("/portal/surveys")
@portal_required(READ)
@doc(tag="portal", query=["status", "kind", "after", "limit"], response=["Survey"])
def portal_surveys():
    """Your surveys (those sent are waiting for your answer), oldest first."""
    store = current_store()
    wanted = query({name: SURVEY_FILTERS[name] for name in ("status", "kind")})
    after, limit = paging()
    with store.reading():
        rows = office_records.select(store, "survey", {**wanted, "customer_id": g.user.customer_id},
                                     after=after, limit=limit)
    return listing(rows, limit)


@bp.get("/surveys")
@office_required(READ)
@doc(tag="feedback", query=["status", "kind", "category", "customer_id", "after", "limit"], response=["Survey"])
def surveys():
    """Every customer's surveys, filtered."""
    store = current_store()
    wanted = query({**SURVEY_FILTERS, "customer_id": fields.String()})
    after, limit = paging()
    with store.reading():
        rows = office_records.select(store, "survey", wanted, after=after, limit=limit)
    return listing(rows, limit)


@bp.get("/tasks")
@office_required(READ)
@doc(tag="feedback", query=["status", "kind", "assignee_role", "customer_id", "after", "limit"], response=["Task"])
def tasks():
    """Tasks for people (detractor follow-up calls...), filtered."""
    store = current_store()
    wanted = query({"status": office_records.filterable("task", "status"),
                    **{name: fields.String() for name in ("kind", "assignee_role", "customer_id")}})
    after, limit = paging()
    with store.reading():
        rows = office_records.select(store, "task", wanted, after=after, limit=limit)
    return listing(rows, limit)


@bp.post("/tasks/<task_id>/status")
@office_required(WRITE)
@doc(tag="feedback", body=TaskStatusSchema, response="Task")
def move_task(task_id: str):
    """Close a task: ``done`` (the call was made) or ``cancelled``."""
    target = TaskStatusSchema().load(json_object())["status"]
    return ok(office_records.move(current_store(), "task", task_id, target))


@bp.get("/feedback/report")
@office_required(REPORT)
@doc(tag="feedback")
def feedback_report():
    """NPS overall and per account, CSAT trend per account, health, detractors awaiting their call."""
    store = current_store()
    query({}, paged=False)
    with store.reading():
        return ok(report(store, store.now_ms()))
