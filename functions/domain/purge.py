"""The purge ledger's record: what must be deleted, why, by when, and (later) the proof that it was.

A purge is requested by a revocation (scope `tenant`), a user opt-out (scope `user`), a legacy expiry (scope
`feature`) or a group opt-out. A group opt-out cannot name its members without Microsoft Graph, so its record
carries a `GroupScope` (the tenant and the newly opted-out group IDs) instead of a `Scope`: the purge
function resolves the groups' transitive members through Graph and purges each member as a user scope,
recording the resolution in the record's steps. Every later resolution of the groups purges, as users, the
members with data that no unfinished purge covers (`PurgeHold.covers_member`): joiners, members the group
purge's own Graph read missed, members of groups migrated from legacy records.

Deadlines run from `requested_at` (when the app recorded the request): live data within 24 hours, backups
within 30 days. A legacy expiry is the exception: its instant is known in advance, so the obligation starts
at the expiry (`deadlines_from`), not when the maintenance timer noticed it. A timer that ran late makes a
purge that is born late, and its deadline flags and outcomes say so; `requested_at` still says when the app
asked, which is what holds, fences and the ledger's order run from.

The purge function's progress (see functions/services/purge.py) is the record's `status`, one phase after
another, each recorded as a `PurgeStep` with its time, duration and counts:

    queued -> live-deleted -> backups-deleted -> verified -> [swept] -> completed

`verified` means the first verification found nothing; `completed` that the second sweep ("revocation
wins", at `fence_at`, once any ingestion that started before the purge has ended) deleted anything written
late and verified zero again. A verification that finds something sends the record back to `queued`.
A group scope is first resolved to its members (`members`), then purged as user scopes.

The scope's change-notification subscriptions at Microsoft Graph (`graph_subscriptions`) are removed before
each deletion, but Graph's failure never holds up the deletion of stored data: Graph is down, or refuses us
because the customer removed the app, exactly when a withdrawal must still be honoured. What Graph would not
remove is kept on the record (Graph's subscription IDs and expiries), and the live deadline depends on the
stored data only. A purge whose sweep verified zero while Graph had not confirmed is `swept`: it asks Graph
again every `SUBSCRIPTION_RETRY` (functions/domain/purge_subscriptions.py) and is `completed` when Graph
confirms (`removed`), or once every subscription it could not remove has expired (`expired`: then the record
says Graph was not verified).

Until a purge completes it **holds** its scope (`purge_hold`): nothing is collected or
copied for it, even if the scope is included again meanwhile (consent granted again, a user opted back in).
Otherwise the sweep would delete what the new consent collected, and its verification could not find zero
while a backfill is writing. Once the purge completes, ingestion of a scope included again resumes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from functions.domain.events import Provenance
from functions.domain.purge_subscriptions import GraphSubscriptions
from functions.domain.scope import Scope

PurgeReason = Literal[
    "consent-revoked", "user-opt-out", "group-opt-out", "legacy-expired", "group-membership"
]
PURGE_REASONS: tuple[PurgeReason, ...] = (
    "consent-revoked",
    "user-opt-out",
    "group-opt-out",
    "legacy-expired",
    "group-membership",
)
LIVE_DEADLINE = timedelta(hours=24)
BACKUP_DEADLINE = timedelta(days=30)

PurgeStatus = Literal["queued", "live-deleted", "backups-deleted", "verified", "swept", "completed"]
PURGE_STATUSES: tuple[PurgeStatus, ...] = (
    "queued",
    "live-deleted",
    "backups-deleted",
    "verified",
    "swept",
    "completed",
)
# A purge this close to a deadline that has not met it is flagged (warning in the log, field on the record).
LIVE_WARNING = timedelta(hours=4)
BACKUP_WARNING = timedelta(days=3)
DeadlineFlag = Literal[
    "live-deadline-near", "live-deadline-passed", "backup-deadline-near", "backup-deadline-passed"
]

# Purge IDs of webhook-driven purges are derived from the event, so a re-delivered event (after a crash
# between writes) finds the purge it already created instead of starting a second one.
_PURGE_NAMESPACE = uuid.UUID("6f1d3c2e-5b8a-4e57-9a0c-2d4b7e91c3a5")


@dataclass(frozen=True, slots=True)
class GroupScope:
    """The members of some opted-out groups of a tenant, to be resolved through Graph by the purge."""

    tenant_id: str
    group_ids: frozenset[str]
    kind: Literal["groups"] = "groups"

    def __post_init__(self) -> None:
        if not self.group_ids:
            raise ValueError("a group scope names at least one group")

    @property
    def subject(self) -> str:
        return ",".join(sorted(self.group_ids))


PurgeTarget = Scope | GroupScope


@dataclass(frozen=True, slots=True)
class PurgeStep:
    """One thing the purge did (e.g. live data deleted), when, with the counts it found or deleted."""

    name: str
    at: datetime
    counts: Mapping[str, int] = field(default_factory=dict)
    duration_ms: int | None = None  # how long the step took (None for steps recorded before it was kept)
    error: str | None = None  # a step that could not do its work: the error's class, never its message


@dataclass(frozen=True, slots=True)
class PurgeRecord:
    id: str
    scope: PurgeTarget
    reason: PurgeReason
    requested_at: datetime
    live_deadline: datetime
    backup_deadline: datetime
    status: str = "queued"  # queued, then the purge function's own statuses
    requested_by: str | None = None  # the actor's object ID (pseudonymous), when a person asked
    event_id: str | None = None
    steps: tuple[PurgeStep, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    live_deleted_at: datetime | None = None
    backups_deleted_at: datetime | None = None
    verified_at: datetime | None = None
    # --- the purge function's own bookkeeping (all optional, so records created before it read back) ---
    started_at: datetime | None = None  # the first delivery's start: the base of `fence_at`
    fence_at: datetime | None = None  # when the second sweep may run (no older ingestion can still write)
    completed_at: datetime | None = None
    attempts: int = 0  # deliveries that started work on it
    lease_owner: str | None = None  # the delivery working on it now, until `lease_until`
    lease_until: datetime | None = None
    members: tuple[str, ...] | None = None  # a group scope's resolved user IDs (None: not resolved yet)
    verification: Mapping[str, int] | None = None  # what the latest verification found, per store
    deadline_flags: tuple[DeadlineFlag, ...] = ()
    # The latest failed delivery's `failure_summary` (the class, and Graph's status and code).
    last_error: str | None = None
    graph_subscriptions: GraphSubscriptions | None = None  # None: nothing to remove at Graph, or never asked

    @property
    def tenant_id(self) -> str:
        return self.scope.tenant_id

    @property
    def finished(self) -> bool:
        return self.status == "completed"

    def leased_to_other(self, owner: str, now: datetime) -> bool:
        """Whether another delivery holds the record now (its lease has not expired)."""
        return (
            self.lease_owner is not None
            and self.lease_owner != owner
            and self.lease_until is not None
            and now < self.lease_until
        )


PurgeAction = Literal[
    "resolve-members",
    "delete-live",
    "delete-backups",
    "verify",
    "wait-for-fence",
    "sweep",
    "wait-for-subscriptions",
    "remove-subscriptions",
    "done",
]


_PHASE_ACTIONS: Mapping[str, PurgeAction] = {
    "queued": "delete-live",
    "live-deleted": "delete-backups",
    "backups-deleted": "verify",
    "completed": "done",
}


def next_action(record: PurgeRecord, now: datetime) -> PurgeAction:
    """What the purge function does next for `record` at `now`: one step; the caller saves and asks again."""
    if isinstance(record.scope, GroupScope) and record.members is None and record.status != "completed":
        return "resolve-members"
    action = _PHASE_ACTIONS.get(record.status)
    if action is not None:
        return action
    if record.status == "swept":  # storage is done; Graph has not confirmed the subscriptions removed
        retry = record.graph_subscriptions.retry_at if record.graph_subscriptions else None
        return "wait-for-subscriptions" if retry is not None and now < retry else "remove-subscriptions"
    # verified: the second sweep, once no ingestion older than the purge can still be writing
    return "wait-for-fence" if record.fence_at is not None and now < record.fence_at else "sweep"


@dataclass(frozen=True, slots=True)
class PurgeHold:
    """What a tenant's unfinished purges keep ingestion and backups away from, worked out once per read of
    the ledger (a scheduling run asks for every user of the tenant)."""

    tenant: bool  # an unfinished tenant purge: nothing of the tenant may be collected yet
    users: frozenset[str]  # lower-case object IDs covered by an unfinished user or (resolved) group purge
    # Groups of unfinished group purges that have not resolved their members yet, each with the latest
    # request of such a purge: not a hold (see `purge_hold`), but what `covers_member` leaves to them.
    unresolved_groups: Mapping[str, datetime] = field(default_factory=dict)

    def covers(self, user_id: str) -> bool:
        return self.tenant or user_id.lower() in self.users

    def covers_member(self, user_id: str, groups: Iterable[str], last_seen: datetime | None) -> bool:
        """Whether an unfinished purge already deletes the data of a user found in these opted-out groups,
        so that they need no purge of their own: their tenant's, their own, a group purge that resolved them
        among its members, or a group purge of one of their groups still to resolve its members, if the user
        was not seen included after it was requested (they were in the group at its opt-out, so its
        resolution finds them; one who joined since gets a purge of their own, as one who joins a group
        opted out long ago does).

        Nothing else covers them. A group purge that resolved its members without them (they joined after it
        asked Graph, or Graph's replica did not show them yet) does not, nor does a completed one: data the
        user still has then is theirs alone to purge. (`last_seen` None: no profile says when; the group
        purge still to resolve is trusted.)"""
        if self.covers(user_id):
            return True
        return any(
            last_seen is None or last_seen <= requested
            for group in groups
            if (requested := self.unresolved_groups.get(group)) is not None
        )


def purge_hold(records: Iterable[PurgeRecord]) -> PurgeHold:
    """The hold of these purges. A user is covered by their tenant's purge, their own, or a group purge whose
    resolved members include them. (Before a group purge has resolved its members, which it does first,
    within seconds, the members are excluded by their group anyway; holding the whole tenant for it would stop
    everyone's ingestion whenever a group is opted out.) A feature purge deletes introductions, which
    ingestion never writes: it holds nobody."""
    tenant = False
    users: set[str] = set()
    unresolved: dict[str, datetime] = {}
    for record in records:
        scope = record.scope
        if record.finished:
            continue
        if isinstance(scope, GroupScope):
            users.update(m.lower() for m in record.members or ())
            if record.members is None:
                for group in scope.group_ids:
                    unresolved[group] = max(unresolved.get(group, record.requested_at), record.requested_at)
        elif scope.kind == "tenant":
            tenant = True
        elif scope.kind == "user":
            users.add(str(scope.user_id).lower())
    return PurgeHold(tenant, frozenset(users), unresolved)


def user_scopes(record: PurgeRecord) -> list[Scope]:
    """The scopes a purge deletes: its own, or one user scope per resolved member of a group scope."""
    scope = record.scope
    if isinstance(scope, Scope):
        return [scope]
    return [Scope("user", scope.tenant_id, user_id=member) for member in record.members or ()]


def deadline_flags(
    record: PurgeRecord,
    now: datetime,
    *,
    live_warning: timedelta = LIVE_WARNING,
    backup_warning: timedelta = BACKUP_WARNING,
) -> tuple[DeadlineFlag, ...]:
    """Which deadlines are near (not met yet, less than the warning left) or passed (not met in time).

    Live data counts as deleted when verified; backups when deleted and verified. A deadline met late stays
    flagged `passed`: the record is the proof, and it must not hide a miss.
    """
    flags: list[DeadlineFlag] = []
    live = _deadline_state(record.verified_at, record.live_deadline, live_warning, now)
    if live:
        flags.append("live-deadline-near" if live == "near" else "live-deadline-passed")
    backups_done = record.backups_deleted_at if record.verified_at is not None else None
    backup = _deadline_state(backups_done, record.backup_deadline, backup_warning, now)
    if backup:
        flags.append("backup-deadline-near" if backup == "near" else "backup-deadline-passed")
    return tuple(flags)


DeadlineOutcome = Literal["met", "met-late", "pending", "missed"]


def deadline_outcomes(record: PurgeRecord, now: datetime) -> tuple[DeadlineOutcome, DeadlineOutcome]:
    """Whether the live and the backup deadline were met, as an auditor asks it: `met` (done in time),
    `met-late`, `missed` (not done and passed), `pending` (not done, not due). Done means what
    `deadline_flags` means: live data when verified, backups when deleted and verified."""
    backups_done = record.backups_deleted_at if record.verified_at is not None else None
    return (
        _outcome(record.verified_at, record.live_deadline, now),
        _outcome(backups_done, record.backup_deadline, now),
    )


def _outcome(done_at: datetime | None, deadline: datetime, now: datetime) -> DeadlineOutcome:
    if done_at is not None:
        return "met" if done_at <= deadline else "met-late"
    return "missed" if now >= deadline else "pending"


def purge_id_for(scope: PurgeTarget, reason: PurgeReason, event_id: str) -> str:
    """The same event asking for the same purge always gets the same purge ID."""
    name = f"{scope.tenant_id}|{reason}|{scope.kind}|{scope.subject}|{event_id}"
    return str(uuid.uuid5(_PURGE_NAMESPACE, name))


def new_purge(
    scope: PurgeTarget,
    reason: PurgeReason,
    provenance: Provenance,
    *,
    deadlines_from: datetime | None = None,
) -> PurgeRecord:
    """A queued purge requested at the time the change was recorded. `deadlines_from`: the instant the
    obligation began when the app knew it before asking (a legacy expiry); never later than the request."""
    requested_at = provenance.recorded_at
    start = requested_at if deadlines_from is None else min(deadlines_from, requested_at)
    return PurgeRecord(
        id=purge_id_for(scope, reason, provenance.event_id),
        scope=scope,
        reason=reason,
        requested_at=requested_at,
        live_deadline=start + LIVE_DEADLINE,
        backup_deadline=start + BACKUP_DEADLINE,
        requested_by=provenance.actor_id,
        event_id=provenance.event_id,
    )


def _deadline_state(
    done_at: datetime | None, deadline: datetime, warning: timedelta, now: datetime
) -> Literal["near", "passed", None]:
    if done_at is not None:
        return "passed" if done_at > deadline else None
    if now >= deadline:
        return "passed"
    return "near" if now >= deadline - warning else None
