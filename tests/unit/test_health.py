"""Relationship health: score, grade, trend (functions/domain/health.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from functions.domain.errors import ValidationFailed
from functions.domain.health import HealthConfig, health_score, relationship_health
from functions.domain.interactions import Interaction, distinct_interactions
from tests.support.interactions import NOW, email, histories, meeting

EXCLUDED = "zoe"


def score(facts: list[Interaction], config: HealthConfig | None = None) -> int:
    return health_score(distinct_interactions(facts, NOW, frozenset()), NOW, config or HealthConfig())


def steady_exchange(weeks: int) -> list[Interaction]:
    """One email each way every week, the latest today."""
    facts = []
    for week in range(weeks):
        at = NOW - timedelta(weeks=week)
        facts += [email(f"s{week}", at=at, direction="sent"), email(f"r{week}", at=at, direction="received")]
    return facts


def test_one_email_received_now_scores_by_the_documented_formula() -> None:
    activity = 1 - math.exp(-1 / 10)  # A = 1
    expected = 100 * (0.4 * activity + 0.3 * 1.0 + 0.3 * 0.0)  # latest age 0; nothing sent, so R = 0

    assert score([email("r1", at=NOW)]) == round(expected) == 34


def test_an_exchange_both_ways_adds_reciprocity() -> None:
    both = 1 - math.exp(-2 / 10)  # A = 2
    reciprocity = 1 - math.exp(-1 / 5)  # R = min(1, 1)
    expected = 100 * (0.4 * both + 0.3 * 1.0 + 0.3 * reciprocity)

    facts = [email("r1", at=NOW), email("s1", at=NOW, direction="sent")]

    assert score(facts) == round(expected) == 43


def test_activity_decays_with_a_30_day_half_life_and_recency_after_a_free_week() -> None:
    activity = 1 - math.exp(-(3 * 0.5) / 10)  # one meeting (base weight 3) 30 days ago counts half
    recency = 2 ** (-(30 - 7) / 30)
    expected = 100 * (0.4 * activity + 0.3 * recency)

    assert score([meeting("e1", at=NOW - timedelta(days=30))]) == round(expected)


def test_recency_stays_full_for_the_first_week() -> None:
    activity = 1 - math.exp(-(3 * 2 ** (-7 / 30)) / 10)
    expected = 100 * (0.4 * activity + 0.3 * 1.0)  # recency not yet decayed at 7 days

    assert score([meeting("e1", at=NOW - timedelta(days=7))]) == round(expected)


def test_no_interaction_scores_zero() -> None:
    assert score([]) == 0


def test_a_heavier_meeting_weight_raises_a_meeting_heavy_score() -> None:
    facts = [meeting(f"e{n}", at=NOW - timedelta(days=n)) for n in range(5)]

    light = score(facts, HealthConfig(meeting_weight=0.5))
    heavy = score(facts, HealthConfig(meeting_weight=1.5))

    assert light < score(facts) < heavy


def test_the_email_weight_applies_to_emails_only() -> None:
    facts = [meeting(f"e{n}", at=NOW - timedelta(days=n)) for n in range(3)]

    assert score(facts, HealthConfig(email_weight=0.5)) == score(facts, HealthConfig(email_weight=1.5))


def test_too_little_activity_is_not_enough_info_without_score_or_trend() -> None:
    health = relationship_health([email("r1", at=NOW), email("s1", at=NOW, direction="sent")], NOW)

    assert (health.grade, health.score, health.trend) == ("not_enough_info", None, None)
    assert health.to_json() == {"score": None, "grade": "not_enough_info", "trend": None}


def test_three_interactions_are_enough_to_grade() -> None:
    facts = [email(f"r{n}", at=NOW - timedelta(days=n)) for n in range(3)]

    assert relationship_health(facts, NOW).grade != "not_enough_info"


def test_copies_in_several_mailboxes_are_one_interaction_for_the_minimum() -> None:
    facts = [email("r1", at=NOW, user=user) for user in ("alice", "bob", "carol")]

    assert relationship_health(facts, NOW).grade == "not_enough_info"


def test_a_steady_weekly_exchange_is_good_and_steady() -> None:
    health = relationship_health(steady_exchange(52), NOW)

    assert health.grade == "good"
    assert health.trend == "steady"


def test_a_relationship_that_started_this_month_is_improving() -> None:
    health = relationship_health(steady_exchange(4), NOW)

    assert health.score_30_days_ago == 0
    assert health.trend == "improving"


def test_a_relationship_that_went_quiet_a_month_ago_is_declining() -> None:
    quiet = [replace(fact, at=fact.at - timedelta(days=31)) for fact in steady_exchange(20)]

    health = relationship_health(quiet, NOW)

    assert health.score is not None
    assert health.score_30_days_ago is not None
    assert health.score_30_days_ago - health.score >= 5
    assert health.trend == "declining"


def test_a_change_under_five_points_is_steady() -> None:
    health = relationship_health(steady_exchange(52), NOW)

    assert health.score is not None
    assert health.score_30_days_ago is not None
    assert abs(health.score - health.score_30_days_ago) < 5


@pytest.mark.parametrize(
    ("value", "grade"),
    [(100, "good"), (60, "good"), (59, "fair"), (40, "fair"), (39, "poor"), (0, "poor")],
)
def test_default_grades_follow_the_documented_bounds(value: int, grade: str) -> None:
    assert HealthConfig().grade(value) == grade


def test_grade_bounds_can_be_moved() -> None:
    config = HealthConfig(good=(80, 100), fair=(50, 79), poor=(0, 49))

    assert [config.grade(value) for value in (80, 79, 50, 49)] == ["good", "fair", "fair", "poor"]


@pytest.mark.parametrize("weight", [0.49, 1.51, 0.0, -1.0, math.nan, math.inf])
def test_weights_outside_plus_or_minus_50_percent_are_refused(weight: float) -> None:
    with pytest.raises(ValidationFailed) as refused:
        HealthConfig(email_weight=weight, meeting_weight=weight)

    assert [error.field for error in refused.value.errors] == ["emailWeight", "meetingWeight"]


@pytest.mark.parametrize("weight", [0.5, 1.5])
def test_weights_at_the_limits_are_accepted(weight: float) -> None:
    assert HealthConfig(email_weight=weight, meeting_weight=weight).email_weight == weight


@pytest.mark.parametrize(
    ("good", "fair", "poor"),
    [
        ((60, 100), (40, 58), (0, 39)),  # a gap at 59
        ((60, 100), (39, 59), (0, 39)),  # 39 twice
        ((60, 99), (40, 59), (0, 39)),  # 100 uncovered
        ((60, 100), (40, 59), (1, 39)),  # 0 uncovered
        ((0, 39), (40, 59), (60, 100)),  # upside down
        ((60, 100), (60, 59), (0, 59)),  # an empty fair range
    ],
)
def test_grade_bounds_that_do_not_partition_0_to_100_are_refused(
    good: tuple[int, int], fair: tuple[int, int], poor: tuple[int, int]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        HealthConfig(good=good, fair=fair, poor=poor)

    assert [error.field for error in refused.value.errors] == ["grades"]


configs = st.builds(
    HealthConfig,
    email_weight=st.floats(0.5, 1.5),
    meeting_weight=st.floats(0.5, 1.5),
)


@given(histories(), configs)
def test_the_score_is_always_between_0_and_100(facts: list[Interaction], config: HealthConfig) -> None:
    assert 0 <= score(facts, config) <= 100


@given(histories(prefix="old"), histories(max_interactions=3, prefix="new"), configs)
def test_adding_interactions_never_lowers_the_score(
    facts: list[Interaction], more: list[Interaction], config: HealthConfig
) -> None:
    assert score(facts + more, config) >= score(facts, config)


@given(histories(max_interactions=1, prefix="new"), histories(prefix="old"), configs)
def test_adding_a_reply_from_the_other_side_never_lowers_the_score(
    reply: list[Interaction], facts: list[Interaction], config: HealthConfig
) -> None:
    assume(reply)
    side = {fact.direction for fact in facts}
    answer = [replace(fact, direction="received" if "sent" in side else "sent") for fact in reply]

    assert score(facts + answer, config) >= score(facts, config)


@given(histories(prefix="k"), st.data(), configs)
def test_a_more_recent_interaction_never_lowers_the_score(
    facts: list[Interaction], data: st.DataObject, config: HealthConfig
) -> None:
    assume(facts)
    key = data.draw(st.sampled_from(sorted({fact.key for fact in facts})))
    moved_by = timedelta(minutes=data.draw(st.integers(1, 400 * 24 * 60)))
    # every copy of the interaction moves together, and never past now
    later = [
        replace(fact, at=min(fact.at + moved_by, NOW)) if fact.key == key and fact.at <= NOW else fact
        for fact in facts
    ]

    assert score(later, config) >= score(facts, config)


@given(histories(users=("alice", "bob")), histories(users=(EXCLUDED,)))
def test_an_excluded_users_facts_never_influence_health(
    included: list[Interaction], excluded: list[Interaction]
) -> None:
    with_excluded = relationship_health(included + excluded, NOW, excluded_users=frozenset({EXCLUDED}))

    assert with_excluded == relationship_health(included, NOW)
