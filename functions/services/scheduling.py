"""Scheduling ingestion: the daily timer (every tenant) and `tenant.schedule` (one tenant, after a grant).

For a tenant with at least one feature enabled: list the users through Graph, resolve the transitive
members of every opted-out group (the tenant's list plus groups of legacy records still in force) afresh,
save the group-excluded users' object IDs in the opt-out store (what the worker, the backup job and the
insight routes fence on), save each included user's profile (name and address: what who knows whom shows)
and delete any profile of a user now excluded, then queue work for every included user with a mailbox
(`windows_to_queue`: the 12-window backfill for a user never ingested, failed or stale windows again, else
one incremental window). Cursors are saved as `queued` before their messages are sent, so a worker always
finds its cursor.

A user found in an opted-out group who was included at the previous run has had data collected: with
GROUP_OPTOUT_EXISTING_DATA=purge a user purge is requested (reason `group-membership`) through the same
purge-record service user opt-outs use; with `retain` they are only excluded from now on.

A tenant or user whose purge is not complete is held (`functions.domain.purge.purge_hold`): no profile, no
cursor, no window, even if consent was granted again meanwhile. `ResumeAfterPurge`, called by the purge
function when a purge completes, asks for the tenant's scheduling at once if the scope is included again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from functions.adapters.audit_store import AuditLog
from functions.adapters.consent_store import ConsentStore
from functions.adapters.cursor_store import TableCursorStore, TenantCursors
from functions.adapters.optout_store import OptOutStore
from functions.adapters.purge_store import PendingPurges
from functions.adapters.queues import INGEST_QUEUE, WorkQueues
from functions.domain.audit import AuditEntry
from functions.domain.consent import enabled_features, legacy_excluded_groups
from functions.domain.errors import GraphError, GraphNotFound, ValidationFailed
from functions.domain.events import Provenance
from functions.domain.ingestion import Cursor, UserProfile, windows_to_queue
from functions.domain.optouts import Exclusions, GroupOptOuts
from functions.domain.purge import PurgeRecord, purge_hold
from functions.domain.records import DirectoryUser
from functions.domain.scope import Scope
from functions.services.consent import PurgeRequests
from functions.services.ingestion import GraphFactory, GraphReader, WindowRequest
from functions.services.tenant_state import user_fence
from functions.settings import GroupOptOutPolicy

logger = logging.getLogger(__name__)


class MessageSender(Protocol):
    def send(self, queue: str, message: Mapping[str, Any]) -> None: ...


class TenantList(Protocol):
    def tenant_ids(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class TenantSchedule:
    tenant_id: str
    enabled: bool
    users: int = 0
    included: int = 0
    excluded: int = 0
    windows_queued: int = 0
    purges_requested: int = 0
    held: int = 0  # users left alone until a purge of theirs completes
    tenant_held: bool = False  # a tenant purge is not complete: nothing was done

    def counts(self) -> dict[str, int]:
        return {
            "users": self.users,
            "included": self.included,
            "excluded": self.excluded,
            "windowsQueued": self.windows_queued,
            "purgesRequested": self.purges_requested,
            "heldForPurge": self.held,
        }


def parse_schedule_message(data: Mapping[str, Any]) -> str:
    """The tenant of a `tenant.schedule` message."""
    tenant = data.get("tenantId")
    if not isinstance(tenant, str) or not tenant:
        raise ValidationFailed("a tenant.schedule message names its tenantId")
    return tenant.lower()


class SchedulingService:
    def __init__(
        self,
        consents: ConsentStore,
        optouts: OptOutStore,
        cursors: TableCursorStore,
        tenants: TenantList,
        queues: MessageSender,
        *,
        purge_requests: PurgeRequests,
        pending_purges: PendingPurges,
        audit: AuditLog,
        graph_factory: GraphFactory,
        group_policy: GroupOptOutPolicy,
    ) -> None:
        self._consents, self._optouts, self._cursors = consents, optouts, cursors
        self._tenants, self._queues = tenants, queues
        self._purges, self._pending, self._audit = purge_requests, pending_purges, audit
        self._graph_factory = graph_factory
        self._group_policy = group_policy

    def schedule_all(self, now: datetime) -> list[TenantSchedule]:
        """Every tenant; one tenant's Graph failure is logged and does not stop the others."""
        results = []
        failures = 0
        for tenant_id in self._tenants.tenant_ids():
            try:
                results.append(self.schedule_tenant(tenant_id, now))
            except GraphError as error:
                failures += 1
                logger.warning("ingestion: scheduling tenant %s failed: %s", tenant_id, error)
        if failures:
            # The timer fails visibly; the tenants that worked are scheduled.
            raise GraphError(f"scheduling failed for {failures} tenant(s); see the log")
        return results

    def schedule_tenant(self, tenant_id: str, now: datetime) -> TenantSchedule:
        tenant_id = tenant_id.lower()
        consent = self._consents.load(tenant_id).consent
        if not enabled_features(consent, now) or consent.state == "revoked":
            return TenantSchedule(tenant_id, enabled=False)
        hold = purge_hold(self._pending.unfinished_of(tenant_id))
        if hold.tenant:
            self._audit_scheduled(tenant_id, now, "held", {}, detail="purge-pending")
            return TenantSchedule(tenant_id, enabled=True, tenant_held=True)
        stored_groups = self._optouts.load_groups(tenant_id).groups
        group_ids = stored_groups.ids | legacy_excluded_groups(consent, now)
        users, membership = asyncio.run(self._read_directory(tenant_id, sorted(group_ids)))
        exclusions = Exclusions.of(consent, stored_groups, self._optouts.users(tenant_id), now)
        state = self._cursors.tenant(tenant_id)
        profiles: list[UserProfile] = []
        requests: list[WindowRequest] = []
        new_cursors: list[Cursor] = []
        grouped: set[str] = set()
        forgotten: list[str] = []
        purges = excluded = held = 0
        for user in users:
            uid = user.user_id.lower()
            member_of = membership.get(uid, frozenset())
            group_excluded = not member_of.isdisjoint(group_ids)
            previous = state.profiles.get(uid)  # only included users have one
            if group_excluded:
                grouped.add(uid)
                if previous is not None and _joined_old_group(member_of & group_ids, stored_groups, previous):
                    purges += self._newly_group_excluded(tenant_id, uid, now)
            is_held = hold.covers(uid)
            if exclusions.excludes(uid, member_of) or group_excluded or is_held:
                excluded += 1
                held += is_held
                if previous is not None:
                    forgotten.append(uid)  # nothing of an excluded person is kept from the directory
                continue
            profiles.append(
                UserProfile(
                    tenant_id, uid, user.display_name, user.mail, user.user_principal_name,
                    present=True, seen_at=now,
                )
            )  # fmt: skip
            if not user.mail:
                continue  # no mailbox: nothing to read
            user_requests, user_cursors = self._windows(state, tenant_id, uid, now)
            requests += user_requests
            new_cursors += user_cursors
        listed = {user.user_id.lower() for user in users}
        gone = [_departed(p, now) for uid, p in state.profiles.items() if uid not in listed and p.present]
        # Exclusions first: a worker reads them before it reads any mailbox.
        self._optouts.replace_group_excluded(tenant_id, grouped, now)
        self._cursors.delete_profiles(tenant_id, forgotten)
        self._cursors.save_profiles([*profiles, *gone])
        self._cursors.save_all(_merge(state.cursors, new_cursors))
        for request in requests:
            self._queues.send(INGEST_QUEUE, request.to_message())
        result = TenantSchedule(
            tenant_id, enabled=True, users=len(users), included=len(users) - excluded, excluded=excluded,
            windows_queued=len(requests), purges_requested=purges, held=held,
        )  # fmt: skip
        self._audit_scheduled(tenant_id, now, "queued", result.counts())
        return result

    def _windows(
        self, state: TenantCursors, tenant_id: str, user_id: str, now: datetime
    ) -> tuple[list[WindowRequest], list[Cursor]]:
        """An included user's windows to queue, and the cursors still to save for them."""
        known = state.of_user(user_id)
        windows = windows_to_queue(known, now)
        cursors = [Cursor(tenant_id, user_id, w.name, w.start, w.end, "queued", now) for w in windows]
        # A first backfill is claimed by inserting its cursors: of two runs at once (the grant's and the
        # timer's), one queues it.
        if not known and cursors and not self._cursors.create_all(cursors):
            return [], []
        requests = [WindowRequest(tenant_id, user_id, w.name, w.start, w.end) for w in windows]
        return requests, cursors if known else []

    def _audit_scheduled(
        self, tenant_id: str, now: datetime, outcome: str, counts: dict[str, int], detail: str | None = None
    ) -> None:
        self._audit.append(
            AuditEntry(
                tenant_id=tenant_id, at=now, kind="ingestion.scheduled", outcome=outcome, counts=counts,
                detail=detail,
            )
        )  # fmt: skip

    async def _read_directory(
        self, tenant_id: str, group_ids: list[str]
    ) -> tuple[list[DirectoryUser], dict[str, frozenset[str]]]:
        graph: GraphReader = self._graph_factory()
        try:
            users = [user async for user in graph.list_users(tenant_id)]
            membership: dict[str, set[str]] = {}
            for group_id in group_ids:
                try:
                    async for member in graph.transitive_user_members(tenant_id, group_id):
                        membership.setdefault(member.lower(), set()).add(group_id)
                except GraphNotFound:
                    logger.warning(
                        "ingestion: opted-out group %s of %s no longer exists", group_id, tenant_id
                    )
        finally:
            await graph.aclose()
        return users, {user: frozenset(groups) for user, groups in membership.items()}

    def _newly_group_excluded(self, tenant_id: str, user_id: str, now: datetime) -> int:
        if self._group_policy != "purge":
            return 0
        event_id = f"group-membership:{user_id}:{now.isoformat()}"
        provenance = Provenance(None, None, event_id, now, "ingestion", now)
        self._purges.request(Scope("user", tenant_id, user_id=user_id), "group-membership", provenance)
        return 1


class ResumeAfterPurge:
    """The purge function's completion hook: when a purge completes and its scope is included again (consent
    granted again, the user opted back in while it ran), ask for the tenant's scheduling now rather than at
    the next daily run. True when it asked."""

    def __init__(self, consents: ConsentStore, optouts: OptOutStore, queues: WorkQueues) -> None:
        self._consents, self._optouts, self._queues = consents, optouts, queues

    def __call__(self, record: PurgeRecord, now: datetime) -> bool:
        tenant_id, scope = record.tenant_id, record.scope
        if not isinstance(scope, Scope) or scope.kind == "feature":
            return False  # group members stay excluded by their group; features hold no ingestion
        if scope.kind == "user":
            # The same facts the worker fences on: consent, the user's opt-out, their group exclusion.
            fence = user_fence(self._consents, self._optouts, tenant_id, str(scope.user_id), now=now)
            included = fence.allowed
        else:
            consent = self._consents.load(tenant_id).consent
            included = consent.state != "revoked" and bool(enabled_features(consent, now))
        if included:
            self._queues.request_ingestion(tenant_id)
        return included


def _joined_old_group(groups: frozenset[str], stored: GroupOptOuts, previous: UserProfile) -> bool:
    """Whether a user included at the previous run is now in a group already opted out then: a membership
    change. (A group opted out since then is the opt-out's own group purge.)"""
    return any(g not in stored.entries or stored.entries[g].added_at < previous.seen_at for g in groups)


def _departed(profile: UserProfile, now: datetime) -> UserProfile:
    return replace(profile, present=False, seen_at=now)


def _merge(existing: list[Cursor], queued: list[Cursor]) -> list[Cursor]:
    """The queued cursors, keeping each window's attempts and delta link from its previous cursor."""
    previous = {(c.user_id, c.window): c for c in existing}
    merged = []
    for cursor in queued:
        old = previous.get((cursor.user_id, cursor.window))
        merged.append(
            cursor
            if old is None
            else replace(
                old, start=cursor.start, end=cursor.end, status="queued", updated_at=cursor.updated_at
            )
        )
    return merged
