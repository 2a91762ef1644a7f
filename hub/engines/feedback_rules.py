"""The customer-feedback rules, as pure functions over plain data (no store, no clock, no Flask).

Scales and categories:

- **NPS** (field service flow, stage 8): "how likely are you to recommend us", 0-10. Promoters
  9-10, passives 7-8, detractors 0-6. NPS = % promoters - % detractors (-100..100).
- **CSAT** (on ticket close): "how satisfied are you", on the usual 1-5 scale — 4-5 satisfied,
  3 neutral, 1-2 dissatisfied. A five-point scale is what customers expect of a satisfaction
  question and keeps CSAT visibly apart from NPS in the same 0-10 ``score`` field.
- A detractor or a dissatisfied customer gets a follow-up call from Customer Success within 24 h.

Account health (0-100), over the last ``health_window`` (90 days) before the moment it is taken:

- satisfaction S: the mean of the parts the account has answers for — NPS as ``(NPS + 100) / 2``
  and CSAT as ``(average - 1) / 4 * 100``; none when there is no answer in the window;
- reliability R = ``max(0, 100 - 20 * SLA breaches)``;
- repeat work P = ``max(0, 100 - 25 * repeat tickets)`` (a ticket on an asset that had another
  ticket opened in the 30 days before it);
- score = ``(60 S + 25 R + 15 P) / 100``, or ``(25 R + 15 P) / 40`` with no answers, rounded half up.

Trend: the score taken at ``trend_points`` moments ``trend_step`` apart, ending now. It is
deteriorating when no step rises and the last is below the first, improving the other way round,
steady otherwise. Taking past scores from the data (not from what earlier runs wrote) keeps the
health a function of the merged state and the time, whatever order the work arrived in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS

SCALES = {"nps": (0, 10), "csat": (1, 5)}
QUESTIONS = {
    "nps": "How likely are you to recommend us to a friend or colleague? (0-10)",
    "csat": "How satisfied are you with how we handled your request? (1-5)",
}
FOLLOW_UP_CATEGORIES = frozenset({"detractor", "dissatisfied"})


@dataclass(frozen=True)
class FeedbackConfig:
    """When surveys go out and expire, and how health is scored. Durations in milliseconds."""

    csat_delay_ms: int = 0  # CSAT goes out as soon as the ticket is closed
    nps_delay_ms: int = 24 * HOUR_MS  # NPS 24 h after the customer's sign-off
    expire_after_ms: int = 14 * DAY_MS  # an unanswered survey expires this long after it was sent
    follow_up_within_ms: int = 24 * HOUR_MS  # a detractor is called within this
    health_window_ms: int = 90 * DAY_MS
    repeat_within_ms: int = 30 * DAY_MS
    trend_points: int = 3
    trend_step_ms: int = 30 * DAY_MS
    breach_penalty: int = 20
    repeat_penalty: int = 25
    weights: tuple[int, int, int] = (60, 25, 15)  # satisfaction, reliability, repeat work


def score_problem(kind: str, score: object) -> str | None:
    """Why ``score`` is not an answer to a ``kind`` survey, or None if it is."""
    low, high = SCALES[kind]
    if not isinstance(score, int) or isinstance(score, bool) or not low <= score <= high:
        return f"a whole number from {low} to {high} for a {kind.upper()} survey"
    return None


def categorise(kind: str, score: int) -> str:
    """The category of a valid answer: promoter/passive/detractor (NPS), satisfied/neutral/dissatisfied (CSAT)."""
    if kind == "nps":
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    return "satisfied" if score >= 4 else "neutral" if score == 3 else "dissatisfied"


def needs_follow_up(category: str | None) -> bool:
    return category in FOLLOW_UP_CATEGORIES


def expired(sent_ms: int, now_ms: int, config: FeedbackConfig) -> bool:
    """Whether a survey sent at ``sent_ms`` and still unanswered has expired by ``now_ms``."""
    return now_ms >= sent_ms + config.expire_after_ms


@dataclass(frozen=True)
class Answer:
    kind: str
    score: int
    at_ms: int


@dataclass(frozen=True)
class AccountFacts:
    """What an account's health is computed from: answers, SLA breach times, tickets by asset."""

    answers: tuple[Answer, ...] = ()
    breaches_ms: tuple[int, ...] = ()
    tickets: tuple[tuple[str | None, int], ...] = ()  # (asset id, opened at)


def nps_exact(scores: Sequence[int]) -> Fraction | None:
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return Fraction(100 * (promoters - detractors), len(scores))


def nps_summary(scores: Sequence[int]) -> dict[str, Any]:
    """NPS of some answers with the counts behind it (NPS rounded to one decimal, null without answers)."""
    value = nps_exact(scores)
    return {"nps": None if value is None else round(float(value), 1), "responses": len(scores),
            "promoters": sum(1 for s in scores if s >= 9), "passives": sum(1 for s in scores if 7 <= s <= 8),
            "detractors": sum(1 for s in scores if s <= 6)}


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def repeat_times(tickets: Iterable[tuple[str | None, int]], within_ms: int) -> list[int]:
    """Opening times of repeat tickets: each ticket on an asset opened within ``within_ms`` after
    another ticket on that asset."""
    by_asset: dict[str, list[int]] = {}
    for asset, opened in tickets:
        if asset:
            by_asset.setdefault(asset, []).append(opened)
    found: list[int] = []
    for times in by_asset.values():
        times.sort()
        found.extend(later for earlier, later in zip(times, times[1:], strict=False) if later - earlier <= within_ms)
    return found


def snapshot(facts: AccountFacts, as_of_ms: int, config: FeedbackConfig) -> dict[str, Any]:
    """The health figures over the window ending at ``as_of_ms``."""
    start = as_of_ms - config.health_window_ms

    def inside(at: int) -> bool:
        return start < at <= as_of_ms

    nps_scores = [a.score for a in facts.answers if a.kind == "nps" and inside(a.at_ms)]
    csat_scores = [a.score for a in facts.answers if a.kind == "csat" and inside(a.at_ms)]
    breaches = sum(1 for at in facts.breaches_ms if inside(at))
    repeats = sum(1 for at in repeat_times(facts.tickets, config.repeat_within_ms) if inside(at))
    nps = nps_exact(nps_scores)
    csat = Fraction(sum(csat_scores), len(csat_scores)) if csat_scores else None
    parts = [p for p in ((nps + 100) / 2 if nps is not None else None,
                         (csat - 1) / 4 * 100 if csat is not None else None) if p is not None]
    w_satisfaction, w_reliability, w_repeat = config.weights
    reliability = max(0, 100 - config.breach_penalty * breaches)
    repeat_work = max(0, 100 - config.repeat_penalty * repeats)
    total = Fraction(w_reliability * reliability + w_repeat * repeat_work)
    weight = w_reliability + w_repeat
    if parts:
        total += w_satisfaction * Fraction(sum(parts), len(parts))
        weight += w_satisfaction
    return {
        "score": _half_up(total / weight),
        "nps": None if nps is None else round(float(nps), 1), "nps_responses": len(nps_scores),
        "csat": None if csat is None else round(float(csat), 2), "csat_responses": len(csat_scores),
        "sla_breaches": breaches, "repeat_tickets": repeats,
    }


def trend(scores: Sequence[int]) -> str:
    """deteriorating / improving / steady, from scores oldest first."""
    steps = list(zip(scores, scores[1:], strict=False))
    if steps and all(b <= a for a, b in steps) and scores[-1] < scores[0]:
        return "deteriorating"
    if steps and all(b >= a for a, b in steps) and scores[-1] > scores[0]:
        return "improving"
    return "steady"


def health(facts: AccountFacts, now_ms: int, config: FeedbackConfig) -> dict[str, Any]:
    """The account's health as the engine writes it on ``customer.health``."""
    moments = [now_ms - k * config.trend_step_ms for k in range(config.trend_points - 1, -1, -1)]
    snapshots = [snapshot(facts, at, config) for at in moments]
    history = [figures["score"] for figures in snapshots]
    return {**snapshots[-1], "trend": trend(history), "history": history,
            "window_days": config.health_window_ms // DAY_MS}
