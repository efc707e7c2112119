"""What ingestion and the insight routes must know about a tenant before touching its data.

`TenantState`: which features are enabled now, and who is excluded (revocation, a user's own opt-out, or a
transitive member of an opted-out group as the last scheduling run resolved it through Graph and saved it
in the opt-out store).
`UserFence`: the facts a window of one user depends on; a window compares the fence taken when it started
with a fresh one before each write and after its last write ("revocation wins": any change means what the
window wrote is taken back).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from functions.adapters.consent_store import ConsentStore
from functions.adapters.optout_store import OptOutStore
from functions.domain.consent import TenantConsent, enabled_features
from functions.domain.optouts import Exclusions
from functions.domain.scope import Feature


@dataclass(frozen=True, slots=True)
class TenantState:
    tenant_id: str
    consent: TenantConsent
    features: frozenset[Feature]
    exclusions: Exclusions
    group_excluded: frozenset[str]  # as the last scheduling run resolved them

    def enabled(self, feature: Feature) -> bool:
        return feature in self.features

    def is_excluded(self, user_id: str) -> bool:
        user = user_id.lower()
        return (
            self.exclusions.consent_state == "revoked"
            or user in self.exclusions.opted_out_user_ids
            or user in self.group_excluded
        )

    def excluded_among(self, user_ids: Iterable[str]) -> frozenset[str]:
        return frozenset(u for u in user_ids if self.is_excluded(u))


def load_tenant_state(
    consents: ConsentStore, optouts: OptOutStore, tenant_id: str, now: datetime
) -> TenantState:
    consent = consents.load(tenant_id).consent
    groups = optouts.load_groups(tenant_id).groups
    users = optouts.users(tenant_id)
    exclusions = Exclusions.of(consent, groups, users, now)
    exclusions = Exclusions(
        exclusions.consent_state,
        exclusions.group_ids,
        frozenset(u.lower() for u in exclusions.opted_out_user_ids),
    )
    return TenantState(
        tenant_id=tenant_id,
        consent=consent,
        features=enabled_features(consent, now),
        exclusions=exclusions,
        group_excluded=optouts.group_excluded(tenant_id),
    )


@dataclass(frozen=True, slots=True)
class UserFence:
    allowed: bool  # a feature is enabled and the user is included
    consent_version: int
    consent_state: str
    groups_version: int
    opted_out: bool
    group_excluded: bool

    @property
    def reason(self) -> str:
        if self.consent_state == "revoked":
            return "consent-revoked"
        if self.opted_out:
            return "user-opted-out"
        if self.group_excluded:
            return "group-opted-out"
        return "no-feature-enabled" if not self.allowed else "included"


def user_fence(
    consents: ConsentStore,
    optouts: OptOutStore,
    tenant_id: str,
    user_id: str,
    *,
    now: datetime,
) -> UserFence:
    consent = consents.load(tenant_id).consent
    groups = optouts.load_groups(tenant_id).groups
    stored = optouts.load_user(tenant_id, user_id).user
    opted_out = stored is not None and stored.opted_out
    group_excluded = optouts.is_group_excluded(tenant_id, user_id)
    allowed = (
        bool(enabled_features(consent, now))
        and consent.state != "revoked"
        and not opted_out
        and not group_excluded
    )
    return UserFence(allowed, consent.version, consent.state, groups.version, opted_out, group_excluded)
