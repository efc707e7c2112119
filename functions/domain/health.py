"""Relationship health: a 0-100 score, explained by three sub-scores, a grade and a trend for one contact.

The formula (deterministic; every input is a distinct interaction of an included user, within the last 365
days up to `now`, as `functions.domain.interactions.distinct_interactions` defines it; f is the tenant's
communication cadence in two-way exchanges a week, `HealthConfig.cadence`, weekly by default):

    age(i)      = days from interaction i to now
    w(i)        = base(kind) * weight(kind) * 2 ** (-age(i) / 30)
                  base: email 1, meeting 3; weight: HealthConfig.email_weight / meeting_weight (0.5..1.5)
    A           = sum of w(i) over all interactions                       (decayed activity)
    R           = min(sum of w(i) over sent, sum of w(i) over received)   (activity matched by the other side)
    K_A         = 2 * (f / 7) * (30 / ln 2) * (1 - 2 ** (-365 / 30))    (A of a steady rhythm at the cadence)
                = 12.36 * f
    K_R         = K_A / 2
    activity    = A / (A + K_A)                                           (computed as 1 - K_A / (A + K_A))
    reciprocity = R / (R + K_R)
    recency     = 2 ** (-max(age(latest) - 7 / f, 0) / 30)                (0 with no interaction)
    raw         = 100 * (0.4 * activity + 0.3 * recency + 0.3 * reciprocity)
    score       = floor(raw + 0.5)

Calibration. One two-way exchange is an email each way (w = 1 + 1 today; a meeting, base 3, is one and a
half). A steady rhythm of m * f exchanges a week adds 2 * m * f / 7 a day, each decaying with a 30-day
half-life, so its decayed activity averaged over time is (2 * m * f / 7) times the integral of
2 ** (-t / 30) over the 365-day window, (30 / ln 2) * (1 - 2 ** (-365 / 30)): m * K_A. That is what K_A
is, the steady-state activity at the cadence (the window's factor is 0.9998 here). Hence activity =
m / (m + 1). Such a rhythm puts half of A on each side, R = A / 2, and with K_R = K_A / 2 reciprocity =
m / (m + 1) too. Its exchanges are at most 7 / (m * f) days apart, within the grace period 7 / f when
m >= 1, so recency = 1 (at m = 1/2 too, halfway between two exchanges). Then raw = 100 * (0.3 + 0.7 * m /
(m + 1)), and the shares were chosen for that: raw(1) = 65 fixes activity + reciprocity = 0.7 and recency
0.3 (activity keeps the larger part, as before); the other anchors follow:

    m (multiple of the cadence)    1/4    1/2    1      2      4      10
    score                          39     53     65     77     86     94

measured halfway between two exchanges (1/4 at the weekly cadence, where recency is then
2 ** (-7 / (30 f)) = 0.85; fortnightly 35, monthly 26). For m >= 1 that is the score's average over time;
at 1/2 the average is 52 weekly, 51 fortnightly, 49 monthly. Right after an exchange a score is higher,
right before the next lower, by about 1.5 points at the weekly cadence and 6 at the monthly one (the
activity half-life stays 30 days), less as m grows. A contact at the cadence is "good" with the default
grades, half of it "fair", a quarter "poor"; ten times the cadence still leaves room at the top, so heavy
relationships rank instead of saturating at 100. The first 7 / f days of recency are free so that a steady
rhythm does not swing the score (and the trend) with the day it is computed on.

Worked example (weekly cadence, f = 1: K_A = 12.36, K_R = 6.18, grace 7 days): the contact wrote 2, 9 and
16 days ago, we replied 8 days ago, and we held a one-hour meeting with them 20 days ago.
sent = 2 ** (-8/30) + 3 * 2 ** (-20/30) = 0.831 + 1.890 = 2.721; received = 2 ** (-2/30) + 2 ** (-9/30)
+ 2 ** (-16/30) = 0.955 + 0.812 + 0.691 = 2.458; A = 5.179, R = 2.458; activity = 5.179 / 17.542 = 0.295,
reciprocity = 2.458 / 8.640 = 0.285, recency = 1 (2 days <= 7); raw = 100 * (0.118 + 0.3 + 0.085) = 50.3,
score 50, "fair": about 0.4 of the weekly cadence over the last weeks.

Explained: `Health.components` carries activity, recency and reciprocity on the score's own 0-100 scale,
so score = floor(0.4 * activity + 0.3 * recency + 0.3 * reciprocity + 0.5) and a client can say which one
holds a relationship back; `Health.cadence` is the cadence they were computed with. `Health.raw` is the
unrounded score: rankings sort on it (two contacts shown as 77 still rank by what separates them).

Bounds: A, R >= 0 and K_A, K_R > 0, so activity and reciprocity lie in [0, 1); recency lies in [0, 1]; the
shares sum to 1, so raw lies in [0, 100] and so does the score.
Monotonic: w(i) grows as i gets more recent; A and both sums grow when an interaction is added or made more
recent, and so does their minimum R; the latest age can only shrink. activity, reciprocity and recency are
increasing in A, R and recency, and floor(x + 0.5) is non-decreasing, so adding an interaction (from either
side) or moving one later never lowers the score; with the same recency and reciprocity, strictly more
activity gives a strictly larger raw score, so such a contact never ranks lower. In floating point every
step is at least non-decreasing, which is what "never lower" needs: sums use `math.fsum` (exactly
rounded, so independent of order), and activity (reciprocity alike) is computed as
1 - K / (A + K), each step of which (a sum, a division by a growing number, a subtraction) is correctly
rounded and so monotone, where A / (A + K) divides two growing numbers and could step back by an ulp.

Grade: `not_enough_info` when fewer than 3 distinct interactions fall in the window; otherwise the grade
whose bounds contain the score (default good 60-100, fair 40-59, poor 0-39). Trend: the score now against
the score computed from the same interactions as of now - 30 days; a difference of 5 points or more is
`improving` or `declining`, less is `steady`. With `not_enough_info` there is no score, no sub-scores and no
trend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from functions.domain.health_config import (
    BASE_WEIGHTS,
    WEEKLY,
    WEIGHT_RANGE,
    Cadence,
    Grade,
    HealthConfig,
)
from functions.domain.interactions import Interaction, Occurrence, distinct_interactions

__all__ = [
    "BASE_WEIGHTS",
    "WEIGHT_RANGE",
    "Breakdown",
    "Components",
    "Grade",
    "Health",
    "HealthConfig",
    "Trend",
    "health_breakdown",
    "health_score",
    "relationship_health",
    "trend",
]

Trend = Literal["improving", "steady", "declining"]

ACTIVITY_HALF_LIFE_DAYS = 30.0
RECENCY_HALF_LIFE_DAYS = 30.0
ACTIVITY_SHARE, RECENCY_SHARE, RECIPROCITY_SHARE = 0.4, 0.3, 0.3
MIN_INTERACTIONS = 3
TREND_OFFSET = timedelta(days=30)
TREND_THRESHOLD = 5


@dataclass(frozen=True, slots=True)
class Components:
    """The three sub-scores, each 0..100 (unrounded), weighted 0.4 / 0.3 / 0.3 into the score."""

    activity: float
    recency: float
    reciprocity: float


@dataclass(frozen=True, slots=True)
class Breakdown:
    raw: float  # the unrounded 0..100 score
    components: Components

    @property
    def score(self) -> int:
        return min(max(math.floor(self.raw + 0.5), 0), 100)


@dataclass(frozen=True, slots=True)
class Health:
    score: int | None  # None with not_enough_info
    grade: Grade
    trend: Trend | None  # None with not_enough_info
    score_30_days_ago: int | None
    raw: float | None = None  # the unrounded score, what rankings sort on; None with not_enough_info
    components: Components | None = None  # None with not_enough_info
    cadence: Cadence = WEEKLY


def relationship_health(
    interactions: Iterable[Interaction],
    now: datetime,
    excluded_users: frozenset[str] = frozenset(),
    config: HealthConfig | None = None,
) -> Health:
    """Score, sub-scores, grade and trend of one contact from every included user's interactions about it."""
    config = config or HealthConfig()
    interactions = list(interactions)  # read twice: as of now and as of 30 days ago
    current = distinct_interactions(interactions, now, excluded_users)
    if len(current) < MIN_INTERACTIONS:
        return Health(
            score=None, grade="not_enough_info", trend=None, score_30_days_ago=None, cadence=config.cadence
        )
    breakdown = health_breakdown(current, now, config)
    then = now - TREND_OFFSET
    earlier = health_score(distinct_interactions(interactions, then, excluded_users), then, config)
    return Health(
        score=breakdown.score,
        grade=config.grade(breakdown.score),
        trend=trend(breakdown.score, earlier),
        score_30_days_ago=earlier,
        raw=breakdown.raw,
        components=breakdown.components,
        cadence=config.cadence,
    )


def trend(score: int, earlier: int) -> Trend:
    if score - earlier >= TREND_THRESHOLD:
        return "improving"
    if earlier - score >= TREND_THRESHOLD:
        return "declining"
    return "steady"


def health_score(occurrences: Sequence[Occurrence], now: datetime, config: HealthConfig) -> int:
    """The 0-100 score of the module docstring (no minimum-activity rule applied)."""
    return health_breakdown(occurrences, now, config).score


def health_breakdown(occurrences: Sequence[Occurrence], now: datetime, config: HealthConfig) -> Breakdown:
    """The unrounded score and its three sub-scores (no minimum-activity rule applied)."""
    sent: list[float] = []
    received: list[float] = []
    latest_age = math.inf
    for occurrence in occurrences:
        interaction = occurrence.interaction
        age = max((now - interaction.at).total_seconds() / 86_400.0, 0.0)
        latest_age = min(latest_age, age)
        decayed = config.weight(interaction.kind) * math.pow(2.0, -age / ACTIVITY_HALF_LIFE_DAYS)
        (sent if interaction.direction == "sent" else received).append(decayed)
    cadence = config.cadence
    activity_scale = cadence.steady_state(ACTIVITY_HALF_LIFE_DAYS)
    activity = saturation(math.fsum(sent + received), activity_scale)
    reciprocity = saturation(min(math.fsum(sent), math.fsum(received)), activity_scale / 2.0)
    if occurrences:
        quiet = max(latest_age - cadence.grace_days, 0.0)
        recency = math.pow(2.0, -quiet / RECENCY_HALF_LIFE_DAYS)
    else:
        recency = 0.0
    blended = ACTIVITY_SHARE * activity + RECENCY_SHARE * recency + RECIPROCITY_SHARE * reciprocity
    return Breakdown(
        raw=min(max(100.0 * blended, 0.0), 100.0),
        components=Components(100.0 * activity, 100.0 * recency, 100.0 * reciprocity),
    )


def saturation(value: float, scale: float) -> float:
    """value / (value + scale) for value >= 0, scale > 0: 0 at 0, 1/2 at the scale, towards 1 beyond.

    Written as 1 - scale / (value + scale) so that it is non-decreasing in floating point as well (see the
    module docstring); who knows whom uses it too.
    """
    return 1.0 - scale / (value + scale)
