"""Account health on ``customer.health``, and the Customer Success report.

The engine writes a customer's health only when it changes, so a run that finds nothing new
writes nothing. The formula is in :mod:`feedback_rules`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sync.ops import SET

from .. import office_records
from ..store import HubStore
from .feedback_rules import FeedbackConfig, categorise, health, nps_summary
from .feedback_state import account_facts, answered_surveys, iso, parse_ms
from .feedback_surveys import FOLLOW_UP_KIND


def plan_health(store: HubStore, now_ms: int, config: FeedbackConfig) -> list[tuple[Any, ...]]:
    """Ops setting ``customer.health`` where the figures at ``now_ms`` differ from what it holds."""
    changes: list[tuple[Any, ...]] = []
    for customer_id, facts in sorted(account_facts(store).items()):
        customer = office_records.view(store, "customer", customer_id)
        if customer is None:
            continue
        figures = health(facts, now_ms, config)
        if customer["health"] != figures:
            changes.append(("customer", customer_id, SET, "health", figures))
    return changes


def _month(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m")


def csat_trend(answers: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """CSAT average per calendar month (UTC) of (answered at, score) pairs, oldest month first."""
    months: dict[str, list[int]] = defaultdict(list)
    for at, score in answers:
        months[_month(at)].append(score)
    return [{"month": month, "average": round(float(Fraction(sum(scores), len(scores))), 2),
             "responses": len(scores)} for month, scores in sorted(months.items())]


def awaiting_follow_up(store: HubStore, now_ms: int) -> list[dict[str, Any]]:
    """Open follow-up calls for unhappy answers, soonest due first, each with the answer behind it."""
    found = []
    for task_id in store.replica.entity_ids("task"):
        task = office_records.view(store, "task", task_id)
        if task is None or task["kind"] != FOLLOW_UP_KIND or task["status"] != "open":
            continue
        survey = office_records.view(store, "survey", task["subject_id"]) or {}
        due = parse_ms(task["due_at"])
        found.append({"task_id": task_id, "survey_id": task["subject_id"], "customer_id": task["customer_id"],
                      "kind": survey.get("kind"), "score": survey.get("score"), "category": survey.get("category"),
                      "comment": survey.get("comment"), "due_at": task["due_at"],
                      "overdue": due is not None and due < now_ms})
    return sorted(found, key=lambda row: (row["due_at"] or "", row["task_id"]))


def report(store: HubStore, now_ms: int) -> dict[str, Any]:
    """NPS overall and per account (all answers), CSAT per month per account, each account's
    health as the engine last wrote it, and the detractors still waiting for their call."""
    nps_scores: dict[str, list[int]] = defaultdict(list)
    csat_answers: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for survey, at in answered_surveys(store):
        if survey["kind"] == "nps":
            nps_scores[survey["customer_id"]].append(survey["score"])
        else:
            csat_answers[survey["customer_id"]].append((at, survey["score"]))
    accounts = []
    for customer_id in sorted(set(nps_scores) | set(csat_answers)):
        customer = office_records.view(store, "customer", customer_id) or {}
        accounts.append({"customer_id": customer_id, "name": customer.get("name"),
                         "nps": nps_summary(nps_scores[customer_id]),
                         "csat_trend": csat_trend(csat_answers[customer_id]),
                         "health": customer.get("health")})
    everyone = [score for scores in nps_scores.values() for score in scores]
    csat_all = [score for answers in csat_answers.values() for _, score in answers]
    csat_counts = {name: sum(1 for s in csat_all if categorise("csat", s) == name)
                   for name in ("satisfied", "neutral", "dissatisfied")}
    return {"as_of": iso(now_ms), "nps": nps_summary(everyone),
            "csat": {"average": round(float(Fraction(sum(csat_all), len(csat_all))), 2) if csat_all else None,
                     "responses": len(csat_all), **csat_counts},
            "accounts": accounts, "awaiting_follow_up": awaiting_follow_up(store, now_ms)}
