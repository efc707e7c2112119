"""Relationship health: a 0-100 score, a grade and a trend for one external contact.

The formula (deterministic; every input is a distinct interaction of an included user, within the last 365
days up to `now`, as `functions.domain.interactions.distinct_interactions` defines it):

    age(i)      = days from interaction i to now
    w(i)        = base(kind) * weight(kind) * 2 ** (-age(i) / 30)
                  base: email 1, meeting 3; weight: HealthConfig.email_weight / meeting_weight (0.5..1.5)
    A           = sum of w(i) over all interactions                       (decayed activity)
    R           = min(sum of w(i) over sent, sum of w(i) over received)   (activity matched by the other side)
    activity    = 1 - exp(-A / 10)
    reciprocity = 1 - exp(-R / 5)
    recency     = 2 ** (-max(age(latest) - 7, 0) / 30)                    (0 with no interaction)
    score       = floor(100 * (0.4 * activity + 0.3 * recency + 0.3 * reciprocity) + 0.5)

The first week of recency is free so that a steady weekly rhythm does not swing the score (and the trend)
with the weekday it is computed on.

Bounds: each component lies in [0, 1] and the component weights sum to 1, so the score lies in 0..100.
Monotonic: w(i) grows as i gets more recent; A and both sums grow when an interaction is added or made more
recent, and so does their minimum R; the latest age can only shrink. activity, reciprocity and recency are
increasing in A, R and recency, and floor(x + 0.5) is non-decreasing, so adding an interaction (from either
side) or moving one later never lowers the score. Sums use `math.fsum`, which is exactly rounded and so
independent of order, keeping that true in floating point.

Grade: `not_enough_info` when fewer than 3 distinct interactions fall in the window; otherwise the grade
whose bounds contain the score (default good 60-100, fair 40-59, poor 0-39). Trend: the score now against
the score computed from the same facts as of now - 30 days; a difference of 5 points or more is `improving`
or `declining`, less is `steady`. With `not_enough_info` there is no score and no trend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from functions.domain.errors import FieldError, ValidationFailed
from functions.domain.interactions import Interaction, Occurrence, distinct_interactions

Grade = Literal["good", "fair", "poor", "not_enough_info"]
Trend = Literal["improving", "steady", "declining"]

BASE_WEIGHTS = {"email": 1.0, "meeting": 3.0}
ACTIVITY_HALF_LIFE_DAYS = 30.0
RECENCY_HALF_LIFE_DAYS = 30.0
RECENCY_GRACE_DAYS = 7.0
ACTIVITY_SCALE = 10.0
RECIPROCITY_SCALE = 5.0
ACTIVITY_SHARE, RECENCY_SHARE, RECIPROCITY_SHARE = 0.4, 0.3, 0.3
MIN_INTERACTIONS = 3
TREND_OFFSET = timedelta(days=30)
TREND_THRESHOLD = 5
WEIGHT_RANGE = (0.5, 1.5)  # the default weight 1.0, adjustable by +/- 50 %


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Admin-adjustable parameters; invalid values raise `ValidationFailed` when constructed."""

    email_weight: float = 1.0
    meeting_weight: float = 1.0
    good: tuple[int, int] = (60, 100)  # inclusive bounds
    fair: tuple[int, int] = (40, 59)
    poor: tuple[int, int] = (0, 39)

    def __post_init__(self) -> None:
        errors = [
            FieldError(name, f"must be between {WEIGHT_RANGE[0]} and {WEIGHT_RANGE[1]}")
            for name, value in (("emailWeight", self.email_weight), ("meetingWeight", self.meeting_weight))
            # written so that NaN fails too
            if not WEIGHT_RANGE[0] <= value <= WEIGHT_RANGE[1]
        ]
        (poor_low, poor_high), (fair_low, fair_high), (good_low, good_high) = self.poor, self.fair, self.good
        partitions = (
            poor_low == 0
            and poor_low <= poor_high
            and fair_low == poor_high + 1
            and fair_low <= fair_high
            and good_low == fair_high + 1
            and good_low <= good_high == 100
        )
        if not partitions:
            errors.append(
                FieldError("grades", "poor, fair and good must be consecutive ranges covering 0-100 exactly")
            )
        if errors:
            raise ValidationFailed("the health configuration is invalid", errors)

    def weight(self, kind: str) -> float:
        return BASE_WEIGHTS[kind] * (self.email_weight if kind == "email" else self.meeting_weight)

    def grade(self, score: int) -> Grade:
        if score >= self.good[0]:
            return "good"
        if score >= self.fair[0]:
            return "fair"
        return "poor"


@dataclass(frozen=True, slots=True)
class Health:
    score: int | None  # None with not_enough_info
    grade: Grade
    trend: Trend | None  # None with not_enough_info
    score_30_days_ago: int | None

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "grade": self.grade, "trend": self.trend}


def relationship_health(
    facts: Iterable[Interaction],
    now: datetime,
    excluded_users: frozenset[str] = frozenset(),
    config: HealthConfig | None = None,
) -> Health:
    """Score, grade and trend of one contact from every included user's facts about it."""
    config = config or HealthConfig()
    facts = list(facts)  # read twice: as of now and as of 30 days ago
    current = distinct_interactions(facts, now, excluded_users)
    if len(current) < MIN_INTERACTIONS:
        return Health(score=None, grade="not_enough_info", trend=None, score_30_days_ago=None)
    score = health_score(current, now, config)
    then = now - TREND_OFFSET
    earlier = health_score(distinct_interactions(facts, then, excluded_users), then, config)
    return Health(
        score=score, grade=config.grade(score), trend=trend(score, earlier), score_30_days_ago=earlier
    )


def trend(score: int, earlier: int) -> Trend:
    if score - earlier >= TREND_THRESHOLD:
        return "improving"
    if earlier - score >= TREND_THRESHOLD:
        return "declining"
    return "steady"


def health_score(occurrences: Sequence[Occurrence], now: datetime, config: HealthConfig) -> int:
    """The raw 0-100 score of the module docstring (no minimum-activity rule applied)."""
    if not occurrences:
        return 0
    sent: list[float] = []
    received: list[float] = []
    latest_age = math.inf
    for occurrence in occurrences:
        fact = occurrence.fact
        age = max((now - fact.at).total_seconds() / 86_400.0, 0.0)
        latest_age = min(latest_age, age)
        decayed = config.weight(fact.kind) * math.pow(2.0, -age / ACTIVITY_HALF_LIFE_DAYS)
        (sent if fact.direction == "sent" else received).append(decayed)
    activity = 1.0 - math.exp(-math.fsum(sent + received) / ACTIVITY_SCALE)
    reciprocity = 1.0 - math.exp(-min(math.fsum(sent), math.fsum(received)) / RECIPROCITY_SCALE)
    recency = math.pow(2.0, -max(latest_age - RECENCY_GRACE_DAYS, 0.0) / RECENCY_HALF_LIFE_DAYS)
    blended = ACTIVITY_SHARE * activity + RECENCY_SHARE * recency + RECIPROCITY_SHARE * reciprocity
    return min(max(math.floor(100.0 * blended + 0.5), 0), 100)
