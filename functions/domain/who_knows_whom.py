"""Who knows whom: the included colleagues who know one external contact best.

Connection strength of a colleague u with the contact, over the distinct interactions of the last 365 days
up to `now` that u holds a copy of (excluded users' interactions are dropped before anything is computed), on
the health score's curve (functions/domain/health.py), anchored to the tenant's cadence f (two-way exchanges a
week, `HealthConfig.cadence`, weekly by default):

    w(i)     = 3    for a meeting u organised or attended (a declined meeting counts 0)
               1    for an email u wrote to the contact, or the contact wrote (u among the recipients)
               0.5  for an email neither wrote (both copied on someone else's email)
    W(u)     = sum of w(i) * 2 ** (-age(i) / 90)          age in days; a 90-day half-life
    K_W      = 2 * (f / 7) * (90 / ln 2) * (1 - 2 ** (-365 / 90))  = 34.87 * f
                                                          W of a colleague exchanging an email each way
                                                          with the contact at the cadence, averaged over
                                                          time (the year's window keeps 94 % of it)
    raw      = 100 * W / (W + K_W)                          0..100, unrounded
                                                          (computed as 100 * (1 - K_W / (W + K_W)))
    strength = floor(raw + 0.5)
    band     = strong (>= 50: at least the cadence), moderate (20-49: at least a quarter of it), weak (< 20)

A colleague keeping up m times the cadence on their own has strength 100 * m / (m + 1): 20 at a quarter,
33 at half, 50 at the cadence, 67 at twice, 91 at ten times; a meeting counts as one and a half exchanges.
The half-life is longer than health's 30 days on purpose: knowing someone fades slower than a relationship
cools. Strength never falls when an interaction is added or made more recent (the curve is increasing, and
non-decreasing in floating point in the form computed).

Ranking: the unrounded strength descending (two colleagues shown as 63 still rank by what separates them),
then the more recent last interaction, then the user ID (ascending), so equal inputs always give the same
list. At most 5 colleagues; a colleague with only declined meetings, or absent from the directory (deleted
since), is not listed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from functions.domain.health import saturation
from functions.domain.health_config import WEEKLY, Cadence
from functions.domain.interactions import Interaction, Role, distinct_interactions
from functions.domain.metadata import DirectoryUser

Band = Literal["strong", "moderate", "weak"]

HALF_LIFE_DAYS = 90.0
MEETING_WEIGHT = 3.0
DIRECT_EMAIL_WEIGHT = 1.0
COPIED_EMAIL_WEIGHT = 0.5
STRONG_FROM = 50
MODERATE_FROM = 20
MAX_COLLEAGUES = 5


@dataclass(frozen=True, slots=True)
class Colleague:
    user_id: str
    display_name: str
    address: str
    strength: int  # 0..100
    band: Band
    last_interaction_at: datetime
    raw: float  # the unrounded strength, what the ranking sorts on


def who_knows_whom(
    interactions: Iterable[Interaction],
    now: datetime,
    directory: Mapping[str, DirectoryUser],
    excluded_users: frozenset[str] = frozenset(),
    limit: int = MAX_COLLEAGUES,
    *,
    cadence: Cadence = WEEKLY,
) -> list[Colleague]:
    """Up to `limit` colleagues ranked by connection strength with the contact the interactions are about."""
    weights: dict[str, list[float]] = {}
    last: dict[str, datetime] = {}
    for occurrence in distinct_interactions(interactions, now, excluded_users):
        interaction = occurrence.interaction
        decay = math.pow(2.0, -max((now - interaction.at).total_seconds() / 86_400.0, 0.0) / HALF_LIFE_DAYS)
        for user_id, role in occurrence.participants:
            weight = _weight(interaction.kind, role, interaction.contact_role)
            if weight == 0.0 or user_id in excluded_users:
                continue
            weights.setdefault(user_id, []).append(weight * decay)
            if user_id not in last or interaction.at > last[user_id]:
                last[user_id] = interaction.at
    colleagues = []
    for user_id, parts in weights.items():
        user = directory.get(user_id)
        if user is None:
            continue
        raw = connection_strength(math.fsum(parts), cadence)
        strength = min(max(math.floor(raw + 0.5), 0), 100)
        colleagues.append(
            Colleague(
                user_id=user_id,
                display_name=user.display_name,
                address=user.mail or user.user_principal_name,
                strength=strength,
                band=band(strength),
                last_interaction_at=last[user_id],
                raw=raw,
            )
        )
    colleagues.sort(key=ranking)
    return colleagues[:limit]


def ranking(colleague: Colleague) -> tuple[float, float, str]:
    """The sort key of the module docstring: unrounded strength, then recency, then user ID."""
    return (-colleague.raw, -colleague.last_interaction_at.timestamp(), colleague.user_id)


def connection_strength(weight: float, cadence: Cadence = WEEKLY) -> float:
    """The unrounded 0..100 strength of a colleague whose decayed weight with the contact is `weight`."""
    return 100.0 * saturation(weight, cadence.steady_state(HALF_LIFE_DAYS))


def band(strength: int) -> Band:
    if strength >= STRONG_FROM:
        return "strong"
    if strength >= MODERATE_FROM:
        return "moderate"
    return "weak"


def _weight(kind: str, user_role: Role, contact_role: Role) -> float:
    if kind == "meeting":
        return 0.0 if user_role == "declined" else MEETING_WEIGHT
    if user_role == "author" or contact_role == "author":
        return DIRECT_EMAIL_WEIGHT
    return COPIED_EMAIL_WEIGHT
