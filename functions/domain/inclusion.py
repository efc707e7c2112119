"""Who is in: the one decision every part of the app asks before it touches a person's data.

Ingestion's fence, scheduling, the backup job, both insights, introductions, restore and the purge's resume
hook all build a `TenantInclusion` from the same stored interactions and call `decide(user_id)`. Nothing else
in the package decides whether a user is included (a rule decided in several places drifts). For the same
reason, whether a member of an opted-out group needs a purge of their own is `member_purge_due` alone.

The interactions, all as stored at `now`:
- the consent (state, and which features are enabled: granted, or a legacy record in force);
- the user opt-outs (object IDs of users opted out now);
- the opted-out groups in force (the tenant's list plus the groups of legacy records that are the basis of
  a feature today) and the **resolved membership**: the transitive members of the groups, as a resolution
  through Graph found them, with the set of groups it resolved;
- the unfinished purges (`functions.domain.purge.PurgeHold`).

The decision, first match wins (the reason is what the audit log and the fence record):

    consent-revoked        the tenant withdrew: everyone is out
    no-feature-enabled     nothing is enabled (never granted, or legacy expired)
    tenant-purge-pending   a tenant purge is unfinished: nothing is collected until it completes
    user-opted-out         the user's own opt-out
    group-opted-out        a transitive member of an opted-out group in force
    membership-unknown     a group in force has not been resolved yet: anyone could be in it (fail closed)
    purge-pending          a purge of this user (their own, or a resolved group purge) is unfinished
    included               none of the above

Membership is **fresh** when every group in force is among the resolved groups. A change of the group list
asks for a resolution at once; until it is stored, every user not already known to be excluded is
`membership-unknown`, so no window starts and the insights hide everyone whose membership is unknown. A
removal needs no resolution (the resolved membership of the remaining groups still answers), so only an
addition fails closed. How old a resolution may be is a separate matter: every scheduling run resolves again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

from functions.domain.consent import ConsentState, TenantConsent, enabled_features, legacy_excluded_groups
from functions.domain.optouts import GroupOptOuts, UserOptOut
from functions.domain.purge import PurgeHold, PurgeRecord, purge_hold
from functions.domain.scope import Feature

Reason = Literal[
    "consent-revoked",
    "no-feature-enabled",
    "tenant-purge-pending",
    "user-opted-out",
    "group-opted-out",
    "membership-unknown",
    "purge-pending",
    "included",
]
REASONS: tuple[Reason, ...] = get_args(Reason)
# Reasons that say nothing about the person, only that we cannot tell yet: a window waits (and is retried)
# instead of giving up, and the insights call themselves `partial` while anyone is hidden for it.
TRANSIENT: frozenset[Reason] = frozenset(("membership-unknown",))


@dataclass(frozen=True, slots=True)
class Decision:
    reason: Reason

    @property
    def included(self) -> bool:
        return self.reason == "included"

    @property
    def transient(self) -> bool:
        return self.reason in TRANSIENT


INCLUDED = Decision("included")
_NEVER = datetime.min.replace(tzinfo=UTC)  # when a resolution that says nothing of its time was made


@dataclass(frozen=True, slots=True)
class GroupMembership:
    """The transitive members of some opted-out groups, as one resolution through Graph found them.

    `members` maps a user's object ID (lower case) to the resolved groups they are in; users in none are
    absent. `groups_version` is the version of the tenant's group list that was resolved: a resolution never
    replaces one of a newer list, nor an earlier resolution of the same list one that was made later (see
    `supersedes`), so resolutions that overlap (a scheduling run's and the one a change of the list asks for)
    end with the newest whichever is saved last.
    """

    groups: frozenset[str] = frozenset()
    members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    groups_version: int = -1
    resolved_at: datetime | None = None

    def groups_of(self, user_id: str) -> frozenset[str]:
        return self.members.get(user_id.lower(), frozenset())

    def covers(self, wanted: Iterable[str]) -> bool:
        return frozenset(wanted) <= self.groups

    def supersedes(self, other: GroupMembership) -> bool:
        """Whether this resolution may replace `other`: it resolved a newer group list, or the same list as
        late or later."""
        return self.order >= other.order

    @property
    def order(self) -> tuple[int, datetime]:
        """The order in which resolutions replace one another: by group list, then by when they were made."""
        return self.groups_version, self.resolved_at or _NEVER

    def only(self, user_id: str) -> GroupMembership:
        """The same resolution, knowing only one user's groups (what a point read of the store returns)."""
        uid = user_id.lower()
        members = {uid: self.members[uid]} if uid in self.members else {}
        return GroupMembership(self.groups, members, self.groups_version, self.resolved_at)


@dataclass(frozen=True, slots=True)
class Fence:
    """What a window depends on for one user: if any of it differs between the window's start and a later
    check, what the window wrote is taken back ("revocation wins")."""

    decision: Decision
    consent_version: int
    opt_out_event: str | None  # the user's latest opt-out change, so an out-and-back-in is seen
    groups: frozenset[str]  # the user's resolved groups among those in force

    @property
    def allowed(self) -> bool:
        return self.decision.included

    @property
    def reason(self) -> Reason:
        return self.decision.reason


@dataclass(frozen=True, slots=True)
class TenantInclusion:
    """The interactions of one tenant at `now` from which every inclusion decision is made."""

    tenant_id: str
    consent_state: ConsentState
    consent_version: int
    features: frozenset[Feature]
    opted_out: frozenset[str]
    opt_out_events: Mapping[str, str]
    group_ids: frozenset[str]  # opted-out groups in force: the list plus legacy groups in force
    membership: GroupMembership
    hold: PurgeHold

    @classmethod
    def of(  # noqa: PLR0917  (the interactions of the decision, in the order the module docstring lists them)
        cls,
        consent: TenantConsent,
        groups: GroupOptOuts,
        users: Iterable[UserOptOut],
        membership: GroupMembership,
        unfinished_purges: Iterable[PurgeRecord],
        now: datetime,
    ) -> TenantInclusion:
        user_rows = list(users)
        return cls(
            tenant_id=consent.tenant_id.lower(),
            consent_state=consent.state,
            consent_version=consent.version,
            features=enabled_features(consent, now),
            opted_out=frozenset(u.user_id.lower() for u in user_rows if u.opted_out),
            opt_out_events={u.user_id.lower(): u.last_event_id for u in user_rows},
            group_ids=groups.ids | legacy_excluded_groups(consent, now),
            membership=membership,
            hold=purge_hold(unfinished_purges),
        )

    @property
    def membership_fresh(self) -> bool:
        return self.membership.covers(self.group_ids)

    def enabled(self, feature: Feature) -> bool:
        return feature in self.features

    def tenant_decision(self) -> Decision:
        """The part of the decision that is the same for every user of the tenant."""
        if self.consent_state == "revoked":
            return Decision("consent-revoked")
        if not self.features:
            return Decision("no-feature-enabled")
        if self.hold.tenant:
            return Decision("tenant-purge-pending")
        return INCLUDED

    def decide(self, user_id: str) -> Decision:
        tenant = self.tenant_decision()
        if not tenant.included:
            return tenant
        uid = user_id.lower()
        if uid in self.opted_out:
            return Decision("user-opted-out")
        if not self.membership.groups_of(uid).isdisjoint(self.group_ids):
            return Decision("group-opted-out")
        if not self.membership_fresh:
            return Decision("membership-unknown")
        if self.hold.covers(uid):
            return Decision("purge-pending")
        return INCLUDED

    def includes(self, user_id: str) -> bool:
        return self.decide(user_id).included

    def included_among(self, user_ids: Iterable[str]) -> frozenset[str]:
        return frozenset(u.lower() for u in user_ids if self.includes(u))

    def group_excluded(self, user_id: str) -> bool:
        """A member of an opted-out group in force (whatever else is true of them)."""
        return not self.membership.groups_of(user_id).isdisjoint(self.group_ids)

    def member_purge_due(self, user_id: str, last_seen: datetime | None) -> bool:
        """Whether a user of whom data may exist (a profile, a cursor) needs a purge of their own because an
        opted-out group holds them (with GROUP_OPTOUT_EXISTING_DATA=purge): they are a member of a group in
        force and no unfinished purge covers them yet (`PurgeHold.covers_member`). `last_seen`: when their
        profile says they were last seen included. The only place that decides it; every resolution of the
        groups asks it of every member with data (functions/services/membership.py)."""
        groups = self.membership.groups_of(user_id) & self.group_ids
        return bool(groups) and not self.hold.covers_member(user_id, groups, last_seen)

    def fence(self, user_id: str) -> Fence:
        uid = user_id.lower()
        return Fence(
            self.decide(uid),
            self.consent_version,
            self.opt_out_events.get(uid),
            self.membership.groups_of(uid) & self.group_ids,
        )
