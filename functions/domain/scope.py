"""What a purge (or a verification) covers: a whole tenant, one user of a tenant, or one feature's data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ScopeKind = Literal["tenant", "user", "feature"]
Feature = Literal["relationship_analytics", "who_knows_whom"]
FEATURES: tuple[Feature, ...] = ("relationship_analytics", "who_knows_whom")


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    tenant_id: str
    user_id: str | None = None  # set exactly when kind == "user"
    feature: Feature | None = None  # set exactly when kind == "feature"

    def __post_init__(self) -> None:
        if (self.kind == "user") != (self.user_id is not None):
            raise ValueError("a user scope names a user, and only a user scope does")
        if (self.kind == "feature") != (self.feature is not None):
            raise ValueError("a feature scope names a feature, and only a feature scope does")

    @property
    def subject(self) -> str:
        """The pseudonymous object ID (or feature name) that audit and the purge ledger keep."""
        if self.kind == "user":
            return str(self.user_id)
        if self.kind == "feature":
            return str(self.feature)
        return self.tenant_id
