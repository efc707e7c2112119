"""The per-tenant health settings: cadence, weights, grade bounds (functions/domain/health_config.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.errors import ValidationFailed
from functions.domain.health_config import Cadence, HealthConfig

DEFAULT_DOCUMENT = {
    "emailWeight": 1.0,
    "meetingWeight": 1.0,
    "grades": {"good": [60, 100], "fair": [40, 59], "poor": [0, 39]},
    "cadence": "weekly",
}


def refused_fields(body: object) -> list[str]:
    with pytest.raises(ValidationFailed) as refused:
        HealthConfig.from_json(body)
    return [error.field for error in refused.value.errors]


# --- grades and weights ---------------------------------------------------------------------------------


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


# --- cadence --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "per_week", "grace_days"),
    [("weekly", 1.0, 7.0), ("fortnightly", 0.5, 14.0), ("monthly", 7 / 30, 30.0)],
)
def test_named_cadences_are_exchanges_a_week_with_a_grace_period_of_one_gap(
    name: str, per_week: float, grace_days: float
) -> None:
    cadence = Cadence.from_json(name)

    assert cadence.per_week == per_week
    assert cadence.grace_days == pytest.approx(grace_days)


def test_the_default_cadence_is_weekly() -> None:
    assert HealthConfig().cadence == Cadence.from_json("weekly")


@pytest.mark.parametrize("value", [0.1, 2.5, 10])
def test_a_number_of_exchanges_a_week_in_range_is_a_cadence(value: float) -> None:
    assert Cadence.from_json(value).per_week == value


@pytest.mark.parametrize("value", [0.09, 10.5, 0, -1, math.nan, math.inf, "daily", "Weekly", True, None, [1]])
def test_anything_else_is_refused_as_the_cadence(value: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        Cadence.from_json(value)

    assert [error.field for error in refused.value.errors] == ["cadence"]


def test_the_steady_state_is_the_time_averaged_decayed_weight_of_the_cadence() -> None:
    # An email each way a week, each decaying with a 30-day half-life over the year's window:
    # (2 / 7 a day) * (30 / ln 2) * (1 - 2 ** (-365 / 30)).
    expected = 2 / 7 * 30 / math.log(2) * (1 - 2 ** (-365 / 30))
    assert Cadence.from_json("weekly").steady_state(30) == pytest.approx(expected)
    assert Cadence.from_json(2).steady_state(30) == pytest.approx(2 * Cadence.from_json(1).steady_state(30))


# --- the settings document ------------------------------------------------------------------------------


def test_the_default_settings_document() -> None:
    assert HealthConfig().to_json() == DEFAULT_DOCUMENT


def test_a_full_document_is_read_field_by_field() -> None:
    config = HealthConfig.from_json(
        {
            "emailWeight": 0.5,
            "meetingWeight": 1.5,
            "grades": {"good": [70, 100], "fair": [30, 69], "poor": [0, 29]},
            "cadence": "monthly",
        }
    )

    assert config == HealthConfig(
        email_weight=0.5,
        meeting_weight=1.5,
        good=(70, 100),
        fair=(30, 69),
        poor=(0, 29),
        cadence=Cadence.from_json("monthly"),
    )


def test_omitted_fields_take_their_defaults() -> None:
    assert HealthConfig.from_json({"cadence": 2}) == HealthConfig(cadence=Cadence(2.0))
    assert HealthConfig.from_json({}) == HealthConfig()


def test_every_bad_field_is_named_at_once() -> None:
    body = {
        "emailWeight": 2,
        "meetingWeight": "heavy",
        "grades": {"good": [60, 100], "fair": [40, 58], "poor": [0, 39]},
        "cadence": "daily",
    }

    assert refused_fields(body) == ["emailWeight", "meetingWeight", "grades", "cadence"]


@pytest.mark.parametrize(
    ("grades", "field"),
    [
        ({"good": [60, 100], "fair": [40, 59]}, "grades"),
        ([[60, 100], [40, 59], [0, 39]], "grades"),
        ({"good": [60, 100], "fair": [40, 59], "poor": [0, 39], "great": [90, 100]}, "grades"),
        ({"good": [60, 100], "fair": [40.5, 59], "poor": [0, 39]}, "grades.fair"),
        ({"good": [60], "fair": [40, 59], "poor": [0, 39]}, "grades.good"),
        ({"good": [60, 100], "fair": [40, 59], "poor": [False, 39]}, "grades.poor"),
    ],
)
def test_grades_must_be_three_pairs_of_whole_numbers(grades: Any, field: str) -> None:
    assert refused_fields({"grades": grades}) == [field]


@pytest.mark.parametrize("weight", [True, None, "1.0", [1.0]])
def test_a_weight_must_be_a_number(weight: object) -> None:
    assert refused_fields({"emailWeight": weight}) == ["emailWeight"]


def test_an_unknown_field_is_refused_rather_than_ignored() -> None:
    assert refused_fields({"emailweight": 0.5}) == ["emailweight"]


@pytest.mark.parametrize("body", [[], "weekly", None, 1])
def test_the_document_must_be_an_object(body: object) -> None:
    with pytest.raises(ValidationFailed):
        HealthConfig.from_json(body)


@given(
    email_weight=st.floats(0.5, 1.5),
    meeting_weight=st.floats(0.5, 1.5),
    cuts=st.tuples(st.integers(0, 98), st.integers(0, 98)).map(sorted),
    cadence=st.one_of(st.sampled_from(["weekly", "fortnightly", "monthly"]), st.floats(0.1, 10.0)),
)
def test_a_saved_document_reads_back_as_the_same_settings(
    email_weight: float, meeting_weight: float, cuts: list[int], cadence: str | float
) -> None:
    low, high = cuts[0], cuts[1] + 1  # poor 0..low, fair low+1..high, good high+1..100: never empty
    config = HealthConfig(
        email_weight=email_weight,
        meeting_weight=meeting_weight,
        poor=(0, low),
        fair=(low + 1, high),
        good=(high + 1, 100),
        cadence=Cadence.from_json(cadence),
    )

    assert HealthConfig.from_json(config.to_json()) == config
    assert config.to_json()["cadence"] == cadence
