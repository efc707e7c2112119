"""Who knows whom: the included colleagues who know one external contact best.

Connection strength of a colleague u with the contact, over the distinct interactions of the last 365 days
up to `now` that u holds a copy of (excluded users' facts are dropped before anything is computed):

    w(i)     = 3    for a meeting u organised or attended (a declined meeting counts 0)
               1    for an email u wrote to the contact, or the contact wrote (u among the recipients)
               0.5  for an email neither wrote (both copied on someone else's email)
    raw(u)   = sum of w(i) * 2 ** (-age(i) / 90)          age in days; a 90-day half-life
    strength = floor(100 * (1 - exp(-raw(u) / 10)) + 0.5)   0..100; roughly a meeting a month or a weekly
                                                             email exchange keeps a colleague "strong"
    band     = strong (>= 60), moderate (30-59), weak (< 30)

Ranking: strength descending, then the more recent last interaction, then the user ID (ascending), so equal
inputs always give the same list. At most 5 colleagues; a colleague with only declined meetings, or absent
from the directory (deleted since), is not listed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from functions.domain.insights import iso
from functions.domain.interactions import Interaction, Role, distinct_interactions
from functions.domain.records import DirectoryUser

Band = Literal["strong", "moderate", "weak"]

HALF_LIFE_DAYS = 90.0
STRENGTH_SCALE = 10.0
MEETING_WEIGHT = 3.0
DIRECT_EMAIL_WEIGHT = 1.0
COPIED_EMAIL_WEIGHT = 0.5
STRONG_FROM = 60
MODERATE_FROM = 30
MAX_COLLEAGUES = 5


@dataclass(frozen=True, slots=True)
class Colleague:
    user_id: str
    display_name: str
    address: str
    strength: int  # 0..100
    band: Band
    last_interaction_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "displayName": self.display_name,
            "address": self.address,
            "strength": self.strength,
            "band": self.band,
            "lastInteraction": iso(self.last_interaction_at),
        }


def who_knows_whom(
    facts: Iterable[Interaction],
    now: datetime,
    directory: Mapping[str, DirectoryUser],
    excluded_users: frozenset[str] = frozenset(),
    limit: int = MAX_COLLEAGUES,
) -> list[Colleague]:
    """Up to `limit` colleagues ranked by connection strength with the contact the facts are about."""
    weights: dict[str, list[float]] = {}
    last: dict[str, datetime] = {}
    for occurrence in distinct_interactions(facts, now, excluded_users):
        fact = occurrence.fact
        decay = math.pow(2.0, -max((now - fact.at).total_seconds() / 86_400.0, 0.0) / HALF_LIFE_DAYS)
        for user_id, role in occurrence.participants:
            weight = _weight(fact.kind, role, fact.contact_role)
            if weight == 0.0 or user_id in excluded_users:
                continue
            weights.setdefault(user_id, []).append(weight * decay)
            if user_id not in last or fact.at > last[user_id]:
                last[user_id] = fact.at
    colleagues = []
    for user_id, parts in weights.items():
        user = directory.get(user_id)
        if user is None:
            continue
        strength = connection_strength(math.fsum(parts))
        colleagues.append(
            Colleague(
                user_id=user_id,
                display_name=user.display_name,
                address=user.mail or user.user_principal_name,
                strength=strength,
                band=band(strength),
                last_interaction_at=last[user_id],
            )
        )
    colleagues.sort(key=lambda c: (-c.strength, -c.last_interaction_at.timestamp(), c.user_id))
    return colleagues[:limit]


def connection_strength(raw: float) -> int:
    return min(max(math.floor(100.0 * (1.0 - math.exp(-raw / STRENGTH_SCALE)) + 0.5), 0), 100)


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
