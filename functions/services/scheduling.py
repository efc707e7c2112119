"""Scheduling ingestion: the daily timer (every tenant) and `tenant.schedule` (one tenant, on request).

For a tenant whose consent lets anything be collected: resolve the opted-out groups afresh and settle what
follows (functions/services/membership.py `refresh`: store the members, ask a purge for each member with data
that no purge covers yet, forget their profiles), list the users through Graph, then ask the
inclusion decision (functions/domain/inclusion.py) about each: save each included user's profile (name and
address: what who knows whom shows), delete any profile of a user now excluded, and queue work for every
included user with a mailbox (`windows_to_queue`: the 12-window backfill for a user never ingested, failed,
stale or revoked windows again, else one incremental window). Cursors are saved as `queued` before their
messages are sent, so a worker always finds its cursor.

A tenant or user whose purge is not complete is held by the same decision: no profile, no cursor, no window,
even if consent was granted again meanwhile. `ResumeAfterPurge`, called by the purge function when a purge
completes, asks for the tenant's scheduling at once if the scope is included again (and, for a group purge,
for its groups to be resolved again, so that a member its own resolution missed is purged).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from functions.domain.audit import AuditEntry
from functions.domain.errors import GraphError
from functions.domain.ingestion import Cursor, UserProfile, windows_to_queue
from functions.domain.metadata import DirectoryUser
from functions.domain.purge import GroupScope, PurgeRecord
from functions.services.inclusion import InclusionReader
from functions.services.ingestion import WindowRequest
from functions.services.membership import MembershipService
from functions.services.ports.consent import AuditLog, TenantList
from functions.services.ports.ingestion import CursorStore, GraphFactory, GraphReader, TenantCursors
from functions.services.ports.queues import WorkQueues

logger = logging.getLogger(__name__)


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


class SchedulingService:
    def __init__(
        self,
        inclusion: InclusionReader,
        membership: MembershipService,
        cursors: CursorStore,
        tenants: TenantList,
        *,
        queues: WorkQueues,
        audit: AuditLog,
        graph_factory: GraphFactory,
    ) -> None:
        self._inclusion, self._membership, self._cursors = inclusion, membership, cursors
        self._tenants, self._queues, self._audit = tenants, queues, audit
        self._graph_factory = graph_factory

    def schedule_all(self, now: datetime) -> list[TenantSchedule]:
        """Every tenant; one tenant's Graph failure is logged and does not stop the others."""
        results = []
        failures = 0
        for tenant_id in self._tenants.tenant_ids():
            try:
                results.append(self.schedule_tenant(tenant_id, now))
            except GraphError as error:
                failures += 1
                logger.warning("ingestion: scheduling tenant %r failed: %s", tenant_id, error)
        if failures:
            # The timer fails visibly; the tenants that worked are scheduled.
            raise GraphError(f"scheduling failed for {failures} tenant(s); see the log")
        return results

    def schedule_tenant(self, tenant_id: str, now: datetime) -> TenantSchedule:
        tenant_id = tenant_id.lower()
        self._queues.taken("schedule", tenant_id)  # a request made from now on is a new run
        tenant = self._inclusion.tenant(tenant_id, now).tenant_decision()
        if tenant.reason == "tenant-purge-pending":
            self._audit_scheduled(tenant_id, now, "held", {}, detail="purge-pending")
            return TenantSchedule(tenant_id, enabled=True, tenant_held=True)
        if not tenant.included:
            return TenantSchedule(tenant_id, enabled=False)
        refreshed = self._membership.refresh(tenant_id, now)
        users = asyncio.run(self._list_users(tenant_id))
        # Decided after the resolution was stored, with whatever changed meanwhile.
        inclusion = self._inclusion.tenant(tenant_id, now)
        state = self._cursors.tenant(tenant_id)
        profiles: list[UserProfile] = []
        requests: list[WindowRequest] = []
        new_cursors: list[Cursor] = []
        forgotten: list[str] = []
        excluded = held = 0
        for user in users:
            uid = user.user_id.lower()
            decision = inclusion.decide(uid)
            if not decision.included:
                excluded += 1
                held += decision.reason == "purge-pending"
                if uid in state.profiles:
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
        self._cursors.delete_profiles(tenant_id, forgotten)
        self._cursors.save_profiles([*profiles, *gone])
        self._cursors.save_all(_merge(state.cursors, new_cursors))
        self._queues.enqueue_windows(request.to_message() for request in requests)
        result = TenantSchedule(
            tenant_id, enabled=True, users=len(users), included=len(users) - excluded, excluded=excluded,
            windows_queued=len(requests), purges_requested=refreshed.purges_requested, held=held,
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

    async def _list_users(self, tenant_id: str) -> list[DirectoryUser]:
        graph: GraphReader = self._graph_factory()
        try:
            return [user async for user in graph.list_users(tenant_id)]
        finally:
            await graph.aclose()


class ResumeAfterPurge:
    """The purge function's completion hook: when a purge completes and its scope is included again (consent
    granted again, the user opted back in while it ran), ask for the tenant's scheduling now rather than at
    the next daily run. True when it asked. A completed group purge asks for its groups to be resolved
    again instead (see below)."""

    def __init__(self, inclusion: InclusionReader, queues: WorkQueues) -> None:
        self._inclusion, self._queues = inclusion, queues

    def __call__(self, record: PurgeRecord, now: datetime) -> bool:
        tenant_id, scope = record.tenant_id, record.scope
        if isinstance(scope, GroupScope):
            # Its members stay excluded by their group. Its own resolution may have missed one whom the
            # groups' resolution left to it (a Graph replica behind): resolving again finds any member still
            # holding data, and asks their purge (functions/services/membership.py).
            self._queues.request_membership(tenant_id, now)
            return False
        if scope.kind == "feature":
            return False  # features hold no ingestion
        if scope.kind == "user":
            user_id = str(scope.user_id)
            included = self._inclusion.user(tenant_id, user_id, now).includes(user_id)
        else:
            included = self._inclusion.tenant(tenant_id, now).tenant_decision().included
        if included:
            self._queues.request_ingestion(tenant_id, now)
        return included


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
