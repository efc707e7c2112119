"""Resolving the opted-out groups: who is a transitive member of which group in force, stored at once.

A change of a tenant's group list (the admin form, a grant with groups, a legacy migration or import) asks for
a resolution on the `membership` queue (coalesced per tenant, see functions/adapters/queues.py). Until it is
stored the tenant fails closed (`membership-unknown` in functions/domain/inclusion.py): no window of a user
whose membership is unknown starts, and the insights hide them. Every scheduling run resolves again, so a
user who joins an opted-out group later is found then.

`refresh` is the one resolution both use: read the groups in force, resolve each through Graph, store the
resolution (never over one of a newer group list), then settle what follows from it for every member of an
opted-out group of whom data may exist: a profile, or a cursor (a profile may be forgotten early, e.g. by a
scheduling run while the user's membership is unknown; a user with a mailbox keeps cursors from their first
scheduling until a purge deletes them, so one left to a group purge that missed them is still found). This
reads the tenant's cursors, as a scheduling run does:
- with GROUP_OPTOUT_EXISTING_DATA=purge, a user purge (`group-membership`) unless an unfinished purge covers
  them already (`TenantInclusion.member_purge_due`, the one place that decides it): their own (so resolving
  again never piles up purges), their tenant's, or the group opt-out's own group purge, when it resolved them
  or is still to resolve a group they were in at its opt-out. So a user who joins an opted-out group, one the
  group purge's own Graph read missed, and the members of groups migrated from legacy records (which have no
  group purge) are all purged. A group purge asks for a resolution when it completes (`ResumeAfterPurge` in
  functions/services/scheduling.py), which purges anyone it was trusted with and did not find.
- their directory profile is deleted, only once their purge is asked for: nothing from the directory is kept
  of an excluded person.
- their Graph subscriptions are reconciled away (a `subscriptions.sync` request), also when existing data is
  retained.

`resolve` (the `membership` queue function) is `refresh` plus: if the tenant was failing closed and a feature
is enabled, the tenant's scheduling is asked for, so windows that were stopped meanwhile run again now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.domain.audit import AuditEntry
from functions.domain.consent import enabled_features, legacy_excluded_groups
from functions.domain.errors import GraphNotFound, ValidationFailed
from functions.domain.events import Provenance
from functions.domain.inclusion import GroupMembership
from functions.domain.optouts import GroupOptOutPolicy
from functions.domain.scope import Scope
from functions.services.consent import PurgeRequests
from functions.services.inclusion import InclusionReader
from functions.services.ports.consent import AuditLog, ConsentStore, OptOutStore
from functions.services.ports.ingestion import CursorStore, GraphFactory, GraphReader
from functions.services.ports.queues import WorkQueues

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refreshed:
    membership: GroupMembership
    saved: bool  # False: a resolution of a newer group list was stored meanwhile (it stands)
    was_fresh: bool  # the stored resolution covered every group in force before this one
    purges_requested: int
    profiles_forgotten: int


def parse_tenant_message(data: Mapping[str, Any]) -> str:
    """The tenant of a `tenant.schedule` or `groups.resolve` message."""
    tenant = data.get("tenantId")
    if not isinstance(tenant, str) or not tenant:
        raise ValidationFailed("the message names its tenantId")
    return tenant.lower()


class MembershipService:
    def __init__(
        self,
        consents: ConsentStore,
        optouts: OptOutStore,
        profiles: CursorStore,
        queues: WorkQueues,
        *,
        inclusion: InclusionReader,
        purge_requests: PurgeRequests,
        audit: AuditLog,
        graph_factory: GraphFactory,
        group_policy: GroupOptOutPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._consents, self._optouts, self._profiles, self._queues = consents, optouts, profiles, queues
        self._inclusion, self._purges, self._audit = inclusion, purge_requests, audit
        self._graph_factory = graph_factory
        self._group_policy = group_policy
        self._clock = clock

    def resolve(self, tenant_id: str, now: datetime) -> Refreshed:
        """The `membership` queue function: resolve now, then let ingestion resume if it was held back."""
        tenant_id = tenant_id.lower()
        self._queues.taken("membership", tenant_id)
        refreshed = self.refresh(tenant_id, now)
        consent = self._consents.load(tenant_id).consent
        resumed = (
            refreshed.saved
            and not refreshed.was_fresh
            and consent.state != "revoked"
            and bool(enabled_features(consent, now))
        )
        if resumed:
            self._queues.request_ingestion(tenant_id, now)
        self._audit.append(
            AuditEntry(
                tenant_id=tenant_id, at=now, kind="optout.groups.resolved",
                outcome="applied" if refreshed.saved else "superseded",
                subject_ids=tuple(sorted(refreshed.membership.groups)),
                counts={
                    "groups": len(refreshed.membership.groups),
                    "members": len(refreshed.membership.members),
                    "purgesRequested": refreshed.purges_requested,
                    "profilesForgotten": refreshed.profiles_forgotten,
                },
                detail="ingestion resumed" if resumed else None,
            )
        )  # fmt: skip
        return refreshed

    def refresh(self, tenant_id: str, now: datetime) -> Refreshed:
        """Resolve the groups in force, store the resolution, settle what follows for their members."""
        consent = self._consents.load(tenant_id).consent
        groups = self._optouts.load_groups(tenant_id).groups
        wanted = groups.ids | legacy_excluded_groups(consent, now)
        before = self._optouts.membership(tenant_id)
        # Stamped with when Graph is asked, not with `now`: a timer passes one `now` to every tenant, and a
        # resolution stamped earlier than one made meanwhile would be discarded as the older (see
        # `GroupMembership.supersedes`), though it saw the groups later.
        asked = self._clock()
        members = asyncio.run(self._members(tenant_id, sorted(wanted)))
        membership = GroupMembership(wanted, members, groups.version, asked)
        saved = self._optouts.save_membership(tenant_id, membership)
        purges = forgotten = 0
        if saved:
            purges, forgotten = self._settle(tenant_id, now)
        if forgotten:
            # Their Graph subscriptions go now, whatever GROUP_OPTOUT_EXISTING_DATA says (a purge, if one
            # was asked for, deletes them too); meanwhile the fence drops their notifications.
            self._queues.request_subscription_sync(tenant_id, now)
        return Refreshed(membership, saved, before.covers(wanted), purges, forgotten)

    def _settle(self, tenant_id: str, now: datetime) -> tuple[int, int]:
        """For each member of an opted-out group of whom data may exist (a profile, a cursor): the purge the
        inclusion rule asks for, if any (`TenantInclusion.member_purge_due`), then their profile forgotten.
        Decided on what is stored now: this resolution (or a newer one) and the unfinished purges."""
        inclusion = self._inclusion.tenant(tenant_id, now)
        stored = self._profiles.tenant(tenant_id)
        last_seen = {uid.lower(): p.seen_at for uid, p in stored.profiles.items()}
        with_data = set(last_seen) | {c.user_id.lower() for c in stored.cursors}
        found = sorted(uid for uid in with_data if inclusion.group_excluded(uid))
        purges = 0
        if self._group_policy == "purge":
            for uid in found:
                if inclusion.member_purge_due(uid, last_seen.get(uid)):
                    event_id = f"group-membership:{uid}:{now.isoformat()}"
                    provenance = Provenance(None, event_id, now, "ingestion", now)
                    self._purges.request(
                        Scope("user", tenant_id, user_id=uid), "group-membership", provenance
                    )
                    purges += 1
        # Only now: the profile is what tells a later resolution that someone may still have data.
        known = [uid for uid in found if uid in last_seen]
        forgotten = self._profiles.delete_profiles(tenant_id, known) if known else 0
        return purges, forgotten

    async def _members(self, tenant_id: str, group_ids: list[str]) -> dict[str, frozenset[str]]:
        graph = self._graph_factory()
        try:
            return await resolve_groups(graph, tenant_id, group_ids)
        finally:
            await graph.aclose()


class GroupMembers:
    """The purge's member resolver: who is in any of some groups, through a Graph reader of its own.

    The purge function is synchronous (a queue handler); Graph is async. Each call runs its own event loop
    with a new reader and closes it before the loop ends (a reader is bound to one loop)."""

    def __init__(self, graph_factory: GraphFactory) -> None:
        self._graph_factory = graph_factory

    def members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        return asyncio.run(self._members(tenant_id, group_ids))

    async def _members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        graph = self._graph_factory()
        try:
            return frozenset(await resolve_groups(graph, tenant_id, group_ids))
        finally:
            await graph.aclose()


async def resolve_groups(
    graph: GraphReader, tenant_id: str, group_ids: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Each user (lower-cased object ID) in any of the groups, nested groups included, and which of the
    groups they are in. A group Graph no longer knows counts as resolved and empty (nobody is in it).

    `graph` is left open: whoever made it closes it, as it may serve more than this resolution.
    """
    found: dict[str, set[str]] = {}
    for group_id in sorted(set(group_ids)):
        try:
            async for user_id in graph.transitive_user_members(tenant_id, group_id):
                found.setdefault(user_id.lower(), set()).add(group_id)
        except GraphNotFound:
            logger.warning(
                "opted-out group %r of tenant %r no longer exists; no members", group_id, tenant_id
            )
    return {user_id: frozenset(groups) for user_id, groups in found.items()}
