"""Opt-out use cases: read the lists, replace the group list, opt a user out or back in.

A user opt-out is saved before its purge is requested: from the moment it is saved, ingestion skips the
user; the purge record (ID derived from the change) and its queue message follow. Toggling is cheap: an
opt-out while a purge of that user is still unfinished reuses it (same purge ID, no new record, no new
message), since the user is held until it completes and nothing new of theirs can exist.

A change of the group list asks for its members to be resolved at once (the `membership` queue; the tenant
fails closed until they are). With `GROUP_OPTOUT_EXISTING_DATA=purge`, newly opted-out groups also get one
purge record whose scope is the groups (`GroupScope`); the purge function resolves their members through
Graph.

A stale event changes no state, but the order of delivery must not decide what is purged: a stale opt-out
still requests its user purge (reusing an unfinished one, as an in-order opt-out does), and under `purge` a
stale replacement still requests the purge of the groups it opted out that the list does not hold (a group
the list holds had its purge when it was added). The audit entry says so and names the purge.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.domain import optouts as rules
from functions.domain.audit import change_entry
from functions.domain.events import Provenance
from functions.domain.optouts import GroupOptOutPolicy, GroupOptOuts, UserOptOut
from functions.domain.purge import GroupScope, new_purge
from functions.domain.scope import Scope
from functions.services.consent import ChangeResult, PurgeRequests, retry_conflicts
from functions.services.ports.consent import AuditLog, OptOutStore
from functions.services.ports.queues import WorkQueues


@dataclass(frozen=True, slots=True)
class OptOutLists:
    groups: GroupOptOuts
    users: list[UserOptOut]  # those opted out now


@dataclass(frozen=True, slots=True)
class GroupsResult:
    result: ChangeResult
    groups: GroupOptOuts
    added: frozenset[str]
    removed: frozenset[str]


class OptOutService:
    def __init__(
        self,
        optouts: OptOutStore,
        purge_requests: PurgeRequests,
        queues: WorkQueues,
        audit: AuditLog,
        *,
        group_policy: GroupOptOutPolicy,
    ) -> None:
        self._optouts, self._purges, self._queues, self._audit = optouts, purge_requests, queues, audit
        self._group_policy = group_policy

    def lists(self, tenant_id: str) -> OptOutLists:
        users = sorted((u for u in self._optouts.users(tenant_id) if u.opted_out), key=lambda u: u.user_id)
        return OptOutLists(self._optouts.load_groups(tenant_id).groups, users)

    def replace_groups(
        self,
        tenant_id: str,
        group_ids: frozenset[str],
        provenance: Provenance,
        *,
        webhook_id: str | None = None,
    ) -> GroupsResult:
        def attempt() -> rules.GroupsTransition:
            stored = self._optouts.load_groups(tenant_id)
            transition = rules.replace_groups(
                stored.groups, group_ids, provenance
            )  # fmt: skip
            if transition.groups != stored.groups:
                self._optouts.save_groups(transition.groups, stored.etag)
            return transition

        transition = retry_conflicts(attempt)
        # Under `purge`: the groups newly listed, or those a stale replacement opted out that the list lacks.
        to_purge = transition.added | transition.implied if self._group_policy == "purge" else frozenset()
        scope = GroupScope(tenant_id, to_purge) if to_purge else None
        stale_purge = (
            new_purge(scope, "group-opt-out", provenance).id if scope and transition.implied else None
        )
        detail = f"{len(transition.added)} added, {len(transition.removed)} removed"
        if stale_purge:
            detail = (
                "older than the list's last replacement: no group changed; its groups' purge is requested"
            )
        self._audit.append(
            change_entry(
                tenant_id, "optout.groups.replaced", transition.outcome, provenance, webhook_id=webhook_id,
                subject_ids=sorted(transition.added | transition.removed | to_purge), detail=detail,
                purge_id=stale_purge,
            )
        )  # fmt: skip
        if transition.added or transition.outcome == "duplicate":
            self._queues.request_membership(tenant_id, provenance.recorded_at)
        purge_id = None
        if scope is not None:
            purge_id = self._purges.request(scope, "group-opt-out", provenance, webhook_id).id
        return GroupsResult(
            ChangeResult(transition.outcome, purge_id, transition.groups.version),
            transition.groups,
            transition.added,
            transition.removed,
        )

    def set_user(
        self,
        tenant_id: str,
        user_id: str,
        *,
        opted_out: bool,
        provenance: Provenance,
        webhook_id: str | None = None,
    ) -> ChangeResult:
        scope = Scope("user", tenant_id, user_id=user_id)
        pending = self._purges.unfinished_user_purge(tenant_id, user_id) if opted_out else None
        purge_id = pending.id if pending else new_purge(scope, "user-opt-out", provenance).id

        def attempt() -> rules.UserTransition:
            stored = self._optouts.load_user(tenant_id, user_id)
            transition = rules.change_user(
                stored.user, tenant_id=tenant_id, user_id=user_id, opted_out=opted_out,
                provenance=provenance, purge_id=purge_id
            )  # fmt: skip
            if transition.outcome in ("applied", "unchanged") and transition.user is not None:
                self._optouts.save_user(transition.user, stored.etag)
            return transition

        transition = retry_conflicts(attempt)
        stale = transition.outcome == "stale"
        detail = "opted out" if opted_out else "opted back in"
        if stale and transition.purge_id:
            detail += "; older than the user's last change: no state changed; their purge is requested"
        self._audit.append(
            change_entry(
                tenant_id, "optout.user.changed", transition.outcome, provenance, webhook_id=webhook_id,
                subject_ids=[user_id], detail=detail, purge_id=transition.purge_id if stale else None,
            )
        )  # fmt: skip
        user = transition.user
        if transition.purge_id is None or user is None:
            return ChangeResult(transition.outcome)
        # The purge of the opt-out in force: an unfinished one it reuses, or its own (created if absent, so a
        # re-delivery after a crash between the writes still gets it). A stale opt-out of a user opted back in
        # since asks for its own, under its own event.
        origin = user.changed if transition.purge_id == user.purge_id else provenance
        record = self._purges.existing(tenant_id, transition.purge_id) or self._purges.request(
            scope, "user-opt-out", origin, webhook_id
        )
        return ChangeResult(transition.outcome, record.id)
