"""The feedback rules on their own: scales, categories, NPS, the health formula and its trend."""

import pytest

from hub.engines.feedback_rules import (
    DAY_MS,
    AccountFacts,
    Answer,
    FeedbackConfig,
    categorise,
    health,
    needs_follow_up,
    nps_summary,
    repeat_times,
    score_problem,
    snapshot,
    trend,
)
from hub.engines.feedback_state import breach_times, parse_ms

CONFIG = FeedbackConfig()
NOW = 1_795_770_000_000  # 2026-11-27 09:00 UTC


@pytest.mark.parametrize(("score", "category"), [
    (0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"), (10, "promoter")])
def test_nps_answers_fall_on_the_seed_boundaries(score, category):
    assert categorise("nps", score) == category
    assert needs_follow_up(category) is (score <= 6)


@pytest.mark.parametrize(("score", "category"), [
    (1, "dissatisfied"), (2, "dissatisfied"), (3, "neutral"), (4, "satisfied"), (5, "satisfied")])
def test_csat_is_on_five_points_and_only_the_dissatisfied_are_called(score, category):
    assert categorise("csat", score) == category
    assert needs_follow_up(category) is (score <= 2)


@pytest.mark.parametrize(("kind", "score"), [
    ("nps", -1), ("nps", 11), ("nps", 7.5), ("nps", "9"), ("nps", True), ("nps", None),
    ("csat", 0), ("csat", 6), ("csat", 10)])
def test_a_score_off_the_scale_is_refused_with_the_scale_named(kind, score):
    assert "whole number" in score_problem(kind, score)


def test_nps_is_promoters_percent_minus_detractors_percent():
    assert nps_summary([10, 9, 8, 6, 3]) == {"nps": 0.0, "responses": 5, "promoters": 2, "passives": 1,
                                            "detractors": 2}
    assert nps_summary([10, 9, 7])["nps"] == 66.7  # (2 - 0) / 3
    assert nps_summary([])["nps"] is None


def test_a_repeat_ticket_is_one_on_the_same_asset_within_30_days_of_another():
    opened = [("asset-1", 0), ("asset-1", 30 * DAY_MS), ("asset-1", 61 * DAY_MS), ("asset-2", 1), (None, 2)]
    assert repeat_times(opened, CONFIG.repeat_within_ms) == [30 * DAY_MS]


def test_health_score_worked_by_hand():
    # NPS 10, 9, 6, 3: two promoters, two detractors -> NPS 0 -> (0 + 100) / 2 = 50.
    # CSAT 5, 4: average 4.5 -> (4.5 - 1) / 4 * 100 = 87.5.   Satisfaction (50 + 87.5) / 2 = 68.75.
    # One SLA breach: 100 - 20 = 80.   One repeat ticket: 100 - 25 = 75.
    # (60 * 68.75 + 25 * 80 + 15 * 75) / 100 = (4125 + 2000 + 1125) / 100 = 72.5 -> 73 (half up).
    day = DAY_MS
    facts = AccountFacts(
        answers=(Answer("nps", 10, NOW - 5 * day), Answer("nps", 9, NOW - 4 * day), Answer("nps", 6, NOW - 3 * day),
                 Answer("nps", 3, NOW - 2 * day), Answer("csat", 5, NOW - 5 * day), Answer("csat", 4, NOW - day)),
        breaches_ms=(NOW - 10 * day,),
        tickets=(("asset-1", NOW - 20 * day), ("asset-1", NOW - 10 * day), ("asset-2", NOW - 9 * day)),
    )
    assert snapshot(facts, NOW, CONFIG) == {"score": 73, "nps": 0.0, "nps_responses": 4, "csat": 4.5,
                                            "csat_responses": 2, "sla_breaches": 1, "repeat_tickets": 1}


def test_an_account_without_answers_is_scored_on_reliability_and_repeat_work_alone():
    # Two breaches: 100 - 40 = 60; no repeats: 100.  (25 * 60 + 15 * 100) / 40 = 75.
    facts = AccountFacts(breaches_ms=(NOW - DAY_MS, NOW - 2 * DAY_MS))
    assert snapshot(facts, NOW, CONFIG)["score"] == 75
    assert snapshot(AccountFacts(), NOW, CONFIG)["score"] == 100


def test_what_left_the_90_day_window_no_longer_counts():
    facts = AccountFacts(answers=(Answer("nps", 0, NOW - 91 * DAY_MS),), breaches_ms=(NOW - 90 * DAY_MS,))
    assert snapshot(facts, NOW, CONFIG)["score"] == 100


def test_the_trend_is_deteriorating_when_the_last_scores_fall():
    assert trend([100, 70, 70]) == "deteriorating"
    assert trend([80, 75, 60]) == "deteriorating"
    assert trend([60, 75, 80]) == "improving"
    assert trend([70, 80, 60]) == "steady"
    assert trend([70, 70, 70]) == "steady"


def test_health_takes_past_scores_from_the_data_30_days_apart():
    # A promoter 70 days ago, a detractor (0) 30 days ago.  60 days ago: NPS 100 -> S 100 -> 100.
    # 30 days ago and now: NPS (1 - 1) / 2 = 0 -> S 50 -> 0.6 * 50 + 40 = 70.
    facts = AccountFacts(answers=(Answer("nps", 10, NOW - 70 * DAY_MS), Answer("nps", 0, NOW - 30 * DAY_MS)))
    figures = health(facts, NOW, CONFIG)
    assert figures["history"] == [100, 70, 70]
    assert figures["trend"] == "deteriorating"
    assert figures["score"] == 70 and figures["window_days"] == 90


@pytest.mark.parametrize(("sla", "expected"), [
    (None, []),
    ({}, []),
    ({"response": {"state": "met", "due_at": "2026-11-27T09:00:00+00:00"}}, []),
    ({"resolution": {"state": "breached", "due_at": "2026-11-27T16:00:00+00:00"}}, ["2026-11-27T16:00:00+00:00"]),
    ({"clocks": {"onsite": {"state": "missed", "due_at": "2026-11-27T11:00:00Z"},
                 "resolution": {"state": "overdue", "due_at": "2026-11-27T13:00:00Z"}}},
     ["2026-11-27T11:00:00+00:00", "2026-11-27T13:00:00+00:00"]),
    ({"response": {"breached": True}}, ["2026-11-27T08:00:00+00:00"]),  # no due time: when the ticket opened
])
def test_sla_breaches_are_read_from_what_the_sla_engine_wrote_and_none_without_it(sla, expected):
    ticket = {"opened_at": "2026-11-27T08:00:00+00:00", "sla": sla}
    assert sorted(breach_times(ticket)) == [parse_ms(at) for at in expected]
