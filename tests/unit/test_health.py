"""Relationship health: score, sub-scores, grade and trend (functions/domain/health.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from functions.domain.health import Breakdown, HealthConfig, health_breakdown, relationship_health
from functions.domain.health_config import NAMED_CADENCES, Cadence
from functions.domain.interactions import WINDOW, Interaction, distinct_interactions
from functions.entrypoints.insights_views import health_view
from tests.support.interactions import NOW, email, histories, meeting

EXCLUDED = "zoe"
K_WEEKLY = 2 * 30 / (7 * math.log(2)) * (1 - 2 ** (-365 / 30))  # an email each way a week: 12.36


def breakdown(interactions: list[Interaction], config: HealthConfig | None = None) -> Breakdown:
    return health_breakdown(
        distinct_interactions(interactions, NOW, frozenset()), NOW, config or HealthConfig()
    )


def score(interactions: list[Interaction], config: HealthConfig | None = None) -> int:
    return breakdown(interactions, config).score


def steady_exchange(weeks: int) -> list[Interaction]:
    """One email each way every week, the latest today."""
    interactions = []
    for week in range(weeks):
        at = NOW - timedelta(weeks=week)
        interactions += [
            email(f"s{week}", at=at, direction="sent"),
            email(f"r{week}", at=at, direction="received"),
        ]
    return interactions


def rhythm(multiple: float, cadence: Cadence) -> list[Interaction]:
    """A year of `multiple` times the cadence (an email each way per exchange), seen halfway between two."""
    gap = timedelta(weeks=1) / (multiple * cadence.per_week)
    interactions = []
    at = NOW - gap / 2
    while at > NOW - WINDOW:
        interactions += [
            email(f"s{at}", at=at, direction="sent"),
            email(f"r{at}", at=at, direction="received"),
        ]
        at -= gap
    return interactions


# --- the formula ----------------------------------------------------------------------------------------


def test_one_email_received_now_scores_by_the_documented_formula() -> None:
    activity = 1 / (1 + K_WEEKLY)  # A = 1
    expected = 100 * (0.4 * activity + 0.3 * 1.0 + 0.3 * 0.0)  # latest age 0; nothing sent, so R = 0

    assert score([email("r1", at=NOW)]) == round(expected) == 33


def test_an_exchange_both_ways_adds_reciprocity() -> None:
    activity = 2 / (2 + K_WEEKLY)  # A = 2
    reciprocity = 1 / (1 + K_WEEKLY / 2)  # R = min(1, 1), K_R = K_A / 2
    expected = 100 * (0.4 * activity + 0.3 * 1.0 + 0.3 * reciprocity)

    interactions = [email("r1", at=NOW), email("s1", at=NOW, direction="sent")]

    assert score(interactions) == round(expected) == 40


def test_activity_decays_with_a_30_day_half_life_and_recency_after_the_grace_week() -> None:
    decayed = 3 * 0.5  # one meeting (base weight 3) 30 days ago counts half
    expected = 100 * (0.4 * decayed / (decayed + K_WEEKLY) + 0.3 * 2 ** (-(30 - 7) / 30))

    assert breakdown([meeting("e1", at=NOW - timedelta(days=30))]).raw == pytest.approx(expected)


def test_recency_stays_full_for_the_grace_period_of_7_over_f_days() -> None:
    three_weeks_ago = [meeting("e1", at=NOW - timedelta(days=21))]
    monthly = HealthConfig(cadence=Cadence.named("monthly"))  # 7 / (7/30) = 30 days of grace

    assert breakdown(three_weeks_ago, monthly).components.recency == 100.0
    assert breakdown(three_weeks_ago).components.recency == pytest.approx(100 * 2 ** (-14 / 30))


def test_a_slower_cadence_scores_the_same_interactions_higher() -> None:
    interactions = steady_exchange(8)

    scores = [score(interactions, HealthConfig(cadence=Cadence.named(name))) for name in NAMED_CADENCES]

    assert scores == sorted(scores)  # weekly, fortnightly, monthly
    assert len(set(scores)) == 3


def test_the_module_docstrings_worked_example() -> None:
    interactions = [
        email("r1", at=NOW - timedelta(days=2)),
        email("r2", at=NOW - timedelta(days=9)),
        email("r3", at=NOW - timedelta(days=16)),
        email("s1", at=NOW - timedelta(days=8), direction="sent"),
        meeting("e1", at=NOW - timedelta(days=20), direction="sent"),
    ]

    result = breakdown(interactions)

    assert round(result.raw, 1) == 50.3
    parts = result.components
    assert (round(parts.activity, 1), round(parts.recency, 1), round(parts.reciprocity, 1)) == (
        29.5,
        100.0,
        28.5,
    )
    assert result.score == 50


def test_no_interaction_scores_zero() -> None:
    assert score([]) == 0


def test_a_heavier_meeting_weight_raises_a_meeting_heavy_score() -> None:
    interactions = [meeting(f"e{n}", at=NOW - timedelta(days=n)) for n in range(5)]

    light = score(interactions, HealthConfig(meeting_weight=0.5))
    heavy = score(interactions, HealthConfig(meeting_weight=1.5))

    assert light < score(interactions) < heavy


def test_the_email_weight_applies_to_emails_only() -> None:
    interactions = [meeting(f"e{n}", at=NOW - timedelta(days=n)) for n in range(3)]

    assert score(interactions, HealthConfig(email_weight=0.5)) == score(
        interactions, HealthConfig(email_weight=1.5)
    )


# --- the calibration: anchored to the cadence -----------------------------------------------------------


@pytest.mark.parametrize("cadence", list(NAMED_CADENCES))
@pytest.mark.parametrize(("multiple", "anchor"), [(0.5, 53), (1, 65), (2, 77), (10, 94)])
def test_a_steady_rhythm_scores_its_anchor_whatever_the_cadence(
    cadence: str, multiple: float, anchor: int
) -> None:
    config = HealthConfig(cadence=Cadence.from_json(cadence))

    assert abs(score(rhythm(multiple, config.cadence), config) - anchor) <= 2


def test_a_contact_at_the_cadence_is_good_at_half_of_it_fair_and_at_a_quarter_poor() -> None:
    weekly = Cadence.named("weekly")

    grades = [relationship_health(rhythm(m, weekly), NOW).grade for m in (1, 0.5, 0.25)]

    assert grades == ["good", "fair", "poor"]


def test_heavy_relationships_no_longer_saturate() -> None:
    scores = [score(rhythm(m, Cadence.named("weekly"))) for m in (4, 6, 10, 20)]

    assert scores == sorted(scores)
    assert len(set(scores)) == 4
    assert scores[-1] < 100


# --- explained --------------------------------------------------------------------------------------------


def test_the_score_is_the_weighted_sum_of_its_three_sub_scores() -> None:
    result = relationship_health(steady_exchange(10), NOW)

    assert result.components is not None
    parts = result.components
    assert result.raw == pytest.approx(0.4 * parts.activity + 0.3 * parts.recency + 0.3 * parts.reciprocity)
    assert result.score == math.floor(result.raw + 0.5)


def test_the_json_carries_the_sub_scores_and_the_cadence() -> None:
    config = HealthConfig(cadence=Cadence.from_json("fortnightly"))

    body = health_view(relationship_health(steady_exchange(52), NOW, config=config))

    assert set(body) == {"score", "grade", "trend", "components", "cadence"}
    assert body["cadence"] == "fortnightly"
    assert set(body["components"]) == {"activity", "recency", "reciprocity"}
    assert all(0 <= value <= 100 for value in body["components"].values())


def test_a_numeric_cadence_is_shown_as_the_number_of_exchanges_a_week() -> None:
    config = HealthConfig(cadence=Cadence.from_json(2.5))

    assert health_view(relationship_health([], NOW, config=config))["cadence"] == 2.5


def test_two_contacts_shown_with_the_same_score_rank_by_the_unrounded_one() -> None:
    more = relationship_health(steady_exchange(52), NOW)
    less = relationship_health(steady_exchange(51), NOW)  # a year-old exchange fewer: a sliver of activity

    ranked = sorted([less, more], key=lambda health: -(health.raw or 0.0))

    assert more.score == less.score
    assert ranked[0] is more


# --- grade and trend ------------------------------------------------------------------------------------


def test_too_little_activity_is_not_enough_info_without_score_sub_scores_or_trend() -> None:
    health = relationship_health([email("r1", at=NOW), email("s1", at=NOW, direction="sent")], NOW)

    assert (health.grade, health.score, health.trend, health.raw) == ("not_enough_info", None, None, None)
    assert health_view(health) == {
        "score": None,
        "grade": "not_enough_info",
        "trend": None,
        "components": None,
        "cadence": "weekly",
    }


def test_three_interactions_are_enough_to_grade() -> None:
    interactions = [email(f"r{n}", at=NOW - timedelta(days=n)) for n in range(3)]

    assert relationship_health(interactions, NOW).grade != "not_enough_info"


def test_copies_in_several_mailboxes_are_one_interaction_for_the_minimum() -> None:
    interactions = [email("r1", at=NOW, user=user) for user in ("alice", "bob", "carol")]

    assert relationship_health(interactions, NOW).grade == "not_enough_info"


def test_a_steady_weekly_exchange_is_good_and_steady() -> None:
    health = relationship_health(steady_exchange(52), NOW)

    assert health.grade == "good"
    assert health.trend == "steady"


def test_a_relationship_that_started_this_month_is_improving() -> None:
    health = relationship_health(steady_exchange(4), NOW)

    assert health.score_30_days_ago == 0
    assert health.trend == "improving"


def test_a_relationship_that_went_quiet_a_month_ago_is_declining() -> None:
    quiet = [
        replace(interaction, at=interaction.at - timedelta(days=31)) for interaction in steady_exchange(20)
    ]

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


# --- invariants -------------------------------------------------------------------------------------------

cadences = st.one_of(
    st.sampled_from([Cadence.from_json(name) for name in NAMED_CADENCES]),
    st.builds(Cadence, st.floats(0.1, 10.0)),
)
configs = st.builds(
    HealthConfig,
    email_weight=st.floats(0.5, 1.5),
    meeting_weight=st.floats(0.5, 1.5),
    cadence=cadences,
)


@given(histories(), configs)
def test_the_score_and_its_sub_scores_are_always_between_0_and_100(
    interactions: list[Interaction], config: HealthConfig
) -> None:
    result = breakdown(interactions, config)
    parts = result.components

    assert 0 <= result.score <= 100
    assert all(0 <= value <= 100 for value in (result.raw, parts.activity, parts.recency, parts.reciprocity))


@given(histories(prefix="old"), histories(max_interactions=3, prefix="new"), configs)
def test_adding_interactions_never_lowers_the_score(
    interactions: list[Interaction], more: list[Interaction], config: HealthConfig
) -> None:
    assert breakdown(interactions + more, config).raw >= breakdown(interactions, config).raw
    assert score(interactions + more, config) >= score(interactions, config)


@given(histories(max_interactions=1, prefix="new"), histories(prefix="old"), configs)
def test_adding_a_reply_from_the_other_side_never_lowers_the_score(
    reply: list[Interaction], interactions: list[Interaction], config: HealthConfig
) -> None:
    assume(reply)
    side = {interaction.direction for interaction in interactions}
    answer = [
        replace(interaction, direction="received" if "sent" in side else "sent") for interaction in reply
    ]

    assert score(interactions + answer, config) >= score(interactions, config)


@given(histories(prefix="k"), st.data(), configs)
def test_a_more_recent_interaction_never_lowers_the_score(
    interactions: list[Interaction], data: st.DataObject, config: HealthConfig
) -> None:
    assume(interactions)
    key = data.draw(st.sampled_from(sorted({interaction.key for interaction in interactions})))
    moved_by = timedelta(minutes=data.draw(st.integers(1, 400 * 24 * 60)))
    # every copy of the interaction moves together, and never past now
    later = [
        replace(interaction, at=min(interaction.at + moved_by, NOW))
        if interaction.key == key and interaction.at <= NOW
        else interaction
        for interaction in interactions
    ]

    assert breakdown(later, config).raw >= breakdown(interactions, config).raw
    assert score(later, config) >= score(interactions, config)


@given(histories(prefix="old"), histories(max_interactions=4, prefix="new"), configs)
def test_strictly_more_activity_at_the_same_recency_and_reciprocity_never_ranks_lower(
    interactions: list[Interaction], extra: list[Interaction], config: HealthConfig
) -> None:
    seen = distinct_interactions(interactions, NOW, frozenset())
    assume(seen)
    latest = seen[-1].interaction.at
    # The extra interactions go to the side with more weight (so the matched weight R stays), and no
    # later than the latest one (so recency stays): only the activity grows.
    sent, received = (_side_weight(interactions, side, config) for side in ("sent", "received"))
    side = "sent" if sent >= received else "received"
    more = [
        replace(interaction, direction=side, at=min(interaction.at, latest))
        for interaction in extra
        if NOW - WINDOW < interaction.at <= NOW
    ]
    assume(more)

    fewer_result, more_result = breakdown(interactions, config), breakdown(interactions + more, config)

    assert more_result.components.recency == fewer_result.components.recency
    assert more_result.components.reciprocity == fewer_result.components.reciprocity
    assert more_result.raw >= fewer_result.raw
    ranked = sorted([("fewer", fewer_result.raw), ("more", more_result.raw)], key=lambda entry: -entry[1])
    assert ranked[0][0] == "more" or ranked[0][1] == ranked[1][1]


def _side_weight(interactions: list[Interaction], direction: str, config: HealthConfig) -> float:
    """The documented decayed weight of one side: sum of weight(kind) * 2 ** (-age / 30)."""
    return math.fsum(
        config.weight(occurrence.interaction.kind)
        * 2 ** (-max((NOW - occurrence.interaction.at).total_seconds() / 86_400, 0) / 30)
        for occurrence in distinct_interactions(interactions, NOW, frozenset())
        if occurrence.interaction.direction == direction
    )


@given(histories(users=("alice", "bob")), histories(users=(EXCLUDED,)))
def test_an_excluded_users_interactions_never_influence_health(
    included: list[Interaction], excluded: list[Interaction]
) -> None:
    with_excluded = relationship_health(included + excluded, NOW, excluded_users=frozenset({EXCLUDED}))

    assert with_excluded == relationship_health(included, NOW)
