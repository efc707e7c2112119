"""The per-tenant health settings: communication cadence, weights per kind, grade bounds (SPEC section 2).

The settings document (the body of `PUT /api/tenants/{t}/insights/settings`, and what its `GET` answers)
is

    {"emailWeight": 1.0, "meetingWeight": 1.0,
     "grades": {"good": [60, 100], "fair": [40, 59], "poor": [0, 39]},
     "cadence": "weekly"}

- `emailWeight`, `meetingWeight`: numbers within 0.5..1.5 (the default 1.0, adjustable by +/- 50 %).
- `grades`: inclusive integer bounds [low, high] per grade; poor, fair and good must be consecutive,
  non-empty ranges covering 0..100 exactly.
- `cadence`: the communication frequency a healthy relationship has, as expected two-way exchanges a week
  (an exchange: an email each way, or about two thirds of a meeting, see functions/domain/health.py):
  "weekly" (1), "fortnightly" (0.5), "monthly" (7/30: once every 30 days), or a number of exchanges a week
  within 0.1..10 (once every ten weeks up to twice a working day). A number is kept as given: 1 is not
  renamed "weekly", so what an admin saved is what they read back.

Every field is optional and takes its default when omitted: the document replaces the settings as a whole.
Any other field is refused, so a misspelt name cannot silently keep a default. Errors name every offending
field at once (`ValidationFailed` with one `FieldError` each). Scores are computed at read time, so a change
recomputes nothing stored: the next read uses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal, cast

from functions.domain.errors import FieldError, ValidationFailed
from functions.domain.interactions import WINDOW

Grade = Literal["good", "fair", "poor", "not_enough_info"]
CadenceName = Literal["weekly", "fortnightly", "monthly"]

BASE_WEIGHTS = {"email": 1.0, "meeting": 3.0}
WEIGHT_RANGE = (0.5, 1.5)  # the default weight 1.0, adjustable by +/- 50 %
NAMED_CADENCES: Mapping[str, float] = {"weekly": 1.0, "fortnightly": 0.5, "monthly": 7.0 / 30.0}
CADENCE_RANGE = (0.1, 10.0)  # exchanges a week
# One two-way exchange is an email each way: base weight 1 + 1.
EXCHANGE_WEIGHT = 2.0
_FIELDS = ("emailWeight", "meetingWeight", "grades", "cadence")
_NAMES_TEXT = '"weekly", "fortnightly" or "monthly"'
_GRADES = ("good", "fair", "poor")


@dataclass(frozen=True, slots=True)
class Cadence:
    """Expected two-way exchanges a week; `name` when it was given by name ("weekly")."""

    per_week: float
    name: CadenceName | None = None

    def __post_init__(self) -> None:
        low, high = CADENCE_RANGE
        # written so that NaN fails too
        if not low <= self.per_week <= high:
            raise ValidationFailed(
                "the health configuration is invalid",
                [
                    FieldError(
                        "cadence", f"must be {_NAMES_TEXT}, or exchanges a week between {low} and {high}"
                    )
                ],
            )
        if self.name is not None and NAMED_CADENCES.get(self.name) != self.per_week:
            raise ValueError(f"cadence {self.name!r} is {NAMED_CADENCES.get(self.name)} a week")

    @classmethod
    def named(cls, name: CadenceName) -> Cadence:
        return cls(NAMED_CADENCES[name], name)

    @classmethod
    def from_json(cls, value: object) -> Cadence:
        """ "weekly" | "fortnightly" | "monthly" | a number of exchanges a week; else `ValidationFailed`."""
        if isinstance(value, str):
            if value in NAMED_CADENCES:
                return cls.named(cast("CadenceName", value))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return cls(float(value))
        low, high = CADENCE_RANGE
        raise ValidationFailed(
            "the health configuration is invalid",
            [FieldError("cadence", f"must be {_NAMES_TEXT}, or exchanges a week between {low} and {high}")],
        )

    def to_json(self) -> str | float:
        return self.name if self.name is not None else self.per_week

    @property
    def grace_days(self) -> float:
        """How long a relationship at this cadence may be quiet between two exchanges: 7/f days."""
        return 7.0 / self.per_week

    def steady_state(self, half_life_days: float) -> float:
        """The decayed weight a steady rhythm at this cadence keeps, averaged over time: exchanges a day,
        times the weight of one, times the integral of 2 ** (-t / half_life) over the one-year window
        (half_life / ln 2 * (1 - 2 ** (-365 / half_life)): the window cuts 6 % off a 90-day half-life)."""
        window_days = WINDOW / timedelta(days=1)
        kept = -math.expm1(-math.log(2.0) * window_days / half_life_days)
        return EXCHANGE_WEIGHT * self.per_week / 7.0 * half_life_days / math.log(2.0) * kept


WEEKLY = Cadence.named("weekly")


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Admin-adjustable parameters; invalid values raise `ValidationFailed` when constructed."""

    email_weight: float = 1.0
    meeting_weight: float = 1.0
    good: tuple[int, int] = (60, 100)  # inclusive bounds
    fair: tuple[int, int] = (40, 59)
    poor: tuple[int, int] = (0, 39)
    cadence: Cadence = WEEKLY

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

    def to_json(self) -> dict[str, Any]:
        return {
            "emailWeight": self.email_weight,
            "meetingWeight": self.meeting_weight,
            "grades": {"good": list(self.good), "fair": list(self.fair), "poor": list(self.poor)},
            "cadence": self.cadence.to_json(),
        }

    @classmethod
    def from_json(cls, body: object) -> HealthConfig:
        """The settings document of the module docstring, validated; `ValidationFailed` names every bad
        field."""
        if not isinstance(body, Mapping):
            raise ValidationFailed("the health settings must be a JSON object")
        errors = [FieldError(str(name), "is not a health setting") for name in body if name not in _FIELDS]
        config = cls()  # each readable field replaces its default; an unreadable one keeps it for now
        for name, field in (("emailWeight", "email_weight"), ("meetingWeight", "meeting_weight")):
            if name in body:
                value = body[name]
                if isinstance(value, int | float) and not isinstance(value, bool):
                    config = _replace_collecting(config, errors, **{field: float(value)})
                else:
                    errors.append(FieldError(name, "must be a number"))
        if "grades" in body:
            grades = _grades(body["grades"], errors)
            if grades is not None:
                config = _replace_collecting(config, errors, **grades)
        if "cadence" in body:
            try:
                config = replace(config, cadence=Cadence.from_json(body["cadence"]))
            except ValidationFailed as refused:
                errors.extend(refused.errors)
        if errors:
            raise ValidationFailed("the health settings are invalid", errors)
        return config


def _replace_collecting(config: HealthConfig, errors: list[FieldError], **changes: Any) -> HealthConfig:
    try:
        return replace(config, **changes)
    except ValidationFailed as refused:
        errors.extend(refused.errors)
        return config


def _grades(value: object, errors: list[FieldError]) -> dict[str, tuple[int, int]] | None:
    if not isinstance(value, Mapping) or set(value) != set(_GRADES):
        errors.append(FieldError("grades", 'must be {"good": [low, high], "fair": [...], "poor": [...]}'))
        return None
    bounds: dict[str, tuple[int, int]] = {}
    for grade in _GRADES:
        pair = value[grade]
        if (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(bound, int) and not isinstance(bound, bool) for bound in pair)
        ):
            bounds[grade] = (pair[0], pair[1])
        else:
            errors.append(FieldError(f"grades.{grade}", "must be [low, high], two whole numbers"))
    return bounds if len(bounds) == len(_GRADES) else None
