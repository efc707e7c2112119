"""Change notifications: keep one subscription per included user and resource, and turn a notification into
a coalesced refresh of that user (functions/domain/subscriptions.py has the rules).

- `sync_tenant` (the `SUBSCRIPTION_SCHEDULE` timer, and a `subscriptions.sync` request after a lifecycle
  event): asks the inclusion decision who is in, lists what Graph has, then deletes, renews and creates per
  `plan_subscriptions`. A subscription made while the user was being excluded is deleted again at once
  (the fence is read after the create: revocation wins). With notifications off, everyone's are deleted.
- `notified` (the notification route): believes a notification only when its subscription is ours and its
  `clientState` hashes to the one kept; asks the fence about the user; then requests a refresh that waits
  `coalesce_seconds`, so a burst of notifications becomes one delta round. A user excluded, or a tenant
  withdrawn, has the notification dropped and audited as such; nothing is read or written for it.
- `lifecycle` (the lifecycle route): `reauthorizationRequired` renews, `subscriptionRemoved` forgets it and
  asks for a reconciliation (which makes it again), `missed` requests a refresh (delta catches up).
- `refresh` (the `refresh` queue): one incremental window of the user through the ingestion worker, which
  takes the fence before reading and before writing, exactly as the daily run does.
- The purge's store for subscriptions is `functions/services/subscription_purge.py`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from functions.domain.audit import AuditEntry
from functions.domain.errors import GraphNotFound, MembershipPending
from functions.domain.ingestion import INCREMENTAL, refresh_window
from functions.domain.subscriptions import (
    ChangeNotification,
    LifecycleNotification,
    ResourceKind,
    Subscription,
    SubscriptionPolicy,
    client_state_hash,
    client_state_matches,
    plan_subscriptions,
    resource_of,
)
from functions.services.inclusion import InclusionReader
from functions.services.ingestion import IngestionWorker, WindowRequest
from functions.services.ports.consent import AuditLog, TenantList
from functions.services.ports.ingestion import CursorStore
from functions.services.ports.queues import WorkQueues
from functions.services.ports.subscriptions import (
    GraphSubscription,
    SubscriptionGraph,
    SubscriptionGraphFactory,
    SubscriptionStore,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
NOTIFICATION_PATH = "/graph/notifications"
LIFECYCLE_PATH = "/graph/lifecycle"


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    enabled: bool
    base_url: str  # the API's public base; Graph posts to base + NOTIFICATION_PATH / LIFECYCLE_PATH
    policy: SubscriptionPolicy
    coalesce_seconds: int

    @property
    def notification_url(self) -> str:
        return self.base_url + NOTIFICATION_PATH

    @property
    def lifecycle_url(self) -> str:
        return self.base_url + LIFECYCLE_PATH


@dataclass(frozen=True, slots=True)
class SyncResult:
    tenant_id: str
    created: int = 0
    renewed: int = 0
    deleted: int = 0
    revoked: int = 0  # made, then deleted at once: the user was excluded meanwhile


@dataclass(frozen=True, slots=True)
class NotifiedResult:
    refreshes_requested: int = 0
    coalesced: int = 0  # a refresh of the user was already pending
    dropped: int = 0  # the user or tenant is not included
    rejected: int = 0  # IDs Graph never sends, unknown subscription, or wrong clientState


class SubscriptionService:
    def __init__(
        self,
        inclusion: InclusionReader,
        store: SubscriptionStore,
        cursors: CursorStore,
        tenants: TenantList,
        *,
        worker: IngestionWorker,
        queues: WorkQueues,
        audit: AuditLog,
        graph_factory: SubscriptionGraphFactory,
        settings: NotificationSettings,
        new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(48),
    ) -> None:
        self._inclusion, self._store, self._cursors, self._tenants = inclusion, store, cursors, tenants
        self._worker, self._queues, self._audit = worker, queues, audit
        self._graph_factory, self._settings, self._new_secret = graph_factory, settings, new_secret

    # --- subscriptions ------------------------------------------------------------------------------------

    def sync_all(self, now: datetime) -> list[SyncResult]:
        tenants = sorted({*self._tenants.tenant_ids(), *self._store.tenant_ids()})
        return [self.sync_tenant(tenant_id, now) for tenant_id in tenants]

    def sync_tenant(self, tenant_id: str, now: datetime) -> SyncResult:
        tenant_id = tenant_id.lower()
        self._queues.taken("subscriptions", tenant_id)
        wanted = self._wanted(tenant_id, now)
        existing = self._store.of_tenant(tenant_id)
        if not wanted and not existing:
            return SyncResult(tenant_id)
        result = run_with_graph(
            self._graph_factory, lambda graph: self._sync(graph, tenant_id, wanted, existing, now)
        )
        self._audit_entry(
            tenant_id, now, "subscriptions.synced", "applied",
            counts={"created": result.created, "renewed": result.renewed, "deleted": result.deleted,
                    "revoked": result.revoked},
        )  # fmt: skip
        return result

    def _wanted(self, tenant_id: str, now: datetime) -> list[str]:
        """Included users with a mailbox (their directory profile has a mail address); nobody when off."""
        if not self._settings.enabled:
            return []
        inclusion = self._inclusion.tenant(tenant_id, now)
        if not inclusion.tenant_decision().included:
            return []
        return [
            user_id
            for user_id, profile in self._cursors.profiles(tenant_id).items()
            if profile.present and profile.mail and inclusion.decide(user_id).included
        ]

    async def _sync(
        self,
        graph: SubscriptionGraph,
        tenant_id: str,
        wanted: list[str],
        existing: list[Subscription],
        now: datetime,
    ) -> SyncResult:
        ours = [s async for s in graph.list_subscriptions(tenant_id) if self._is_ours(s)]
        known = {s.subscription_id for s in existing}
        deleted = 0
        for orphan in (s for s in ours if s.subscription_id not in known):
            # Made by a sync that stopped before recording it: nobody could check its secret.
            deleted += await graph.delete_subscription(tenant_id, orphan.subscription_id)
        plan = plan_subscriptions(
            wanted, existing, frozenset(s.subscription_id for s in ours), now, self._settings.policy
        )
        for sub in plan.delete:
            await graph.delete_subscription(tenant_id, sub.subscription_id)
            self._store.delete(tenant_id, sub.subscription_id)
            deleted += 1
        create = list(plan.create)
        renewed = 0
        for sub in plan.renew:
            try:
                expires = await graph.renew_subscription(
                    tenant_id, sub.subscription_id, self._settings.policy.expiry(now)
                )
            except GraphNotFound:
                self._store.delete(tenant_id, sub.subscription_id)
                create.append((sub.user_id, sub.kind))
                continue
            self._store.save(replace(sub, expires_at=expires, renewed_at=now))
            renewed += 1
        created = revoked = 0
        for user_id, kind in create:
            made = await self._create(graph, tenant_id, user_id, kind, now)
            if made is None:
                revoked += 1
            else:
                created += 1
        return SyncResult(tenant_id, created, renewed, deleted, revoked)

    async def _create(
        self, graph: SubscriptionGraph, tenant_id: str, user_id: str, kind: ResourceKind, now: datetime
    ) -> Subscription | None:
        secret = self._new_secret()
        made = await graph.create_subscription(
            tenant_id,
            resource=resource_of(user_id, kind),
            notification_url=self._settings.notification_url,
            lifecycle_url=self._settings.lifecycle_url,
            client_state=secret,
            expires_at=self._settings.policy.expiry(now),
        )
        sub = Subscription(
            tenant_id, user_id, kind, made.subscription_id, client_state_hash(secret), made.expires_at, now
        )
        self._store.save(sub)
        if not self._inclusion.fence(tenant_id, user_id, now).allowed:
            # Excluded while it was being made: the purge may already have counted this user's.
            await graph.delete_subscription(tenant_id, sub.subscription_id)
            self._store.delete(tenant_id, sub.subscription_id)
            return None
        return sub

    def _is_ours(self, sub: GraphSubscription) -> bool:
        return sub.notification_url.rstrip("/") == self._settings.notification_url

    # --- notifications ------------------------------------------------------------------------------------

    def notified(self, notifications: Sequence[ChangeNotification], now: datetime) -> NotifiedResult:
        per_user: Counter[tuple[str, str]] = Counter()
        rejected: Counter[str] = Counter()
        unknown = not_graphs = 0
        held: dict[tuple[str, str], Subscription | None] = {}  # Graph batches repeat a subscription
        for note in notifications:
            if not note.from_graph:  # no subscription of ours has such IDs: not worth a storage read
                not_graphs += 1
                continue
            key = (note.tenant_id, note.subscription_id)
            if key not in held:
                held[key] = self._store.get(*key)
            sub = held[key]
            if sub is None:
                unknown += 1
            elif not client_state_matches(note.client_state, sub.client_state_sha256) or (
                note.user_id is not None and note.user_id != sub.user_id
            ):
                rejected[sub.tenant_id] += 1
            else:
                per_user[sub.tenant_id, sub.user_id] += 1
        if unknown or not_graphs:
            logger.warning(
                "notifications: %d for subscriptions the app does not hold, ignored "
                "(%d of them with IDs Graph never sends, not looked up)", unknown + not_graphs, not_graphs,
            )  # fmt: skip
        for tenant_id, count in rejected.items():
            self._audit_entry(tenant_id, now, "notification.rejected", "client-state-mismatch",
                              counts={"notifications": count})  # fmt: skip
        requested = coalesced = dropped = 0
        for (tenant_id, user_id), count in per_user.items():
            fence = self._inclusion.fence(tenant_id, user_id, now)
            if not fence.allowed and not fence.decision.transient:
                dropped += count
                self._audit_entry(tenant_id, now, "notification.dropped", fence.reason,
                                  counts={"notifications": count}, subjects=(user_id,))  # fmt: skip
            elif self._queues.request_refresh(tenant_id, user_id, now, self._settings.coalesce_seconds):
                requested += 1
                coalesced += count - 1
            else:
                coalesced += count
        return NotifiedResult(requested, coalesced, dropped, not_graphs + unknown + sum(rejected.values()))

    def lifecycle(self, notifications: Sequence[LifecycleNotification], now: datetime) -> int:
        """Act on lifecycle events of our subscriptions; the number acted on."""
        acted = 0
        for note in notifications:
            if not note.from_graph:  # as in `notified`: no storage read for what Graph never sends
                continue
            sub = self._store.get(note.tenant_id, note.subscription_id)
            if sub is None or not client_state_matches(note.client_state, sub.client_state_sha256):
                continue
            acted += 1
            if note.event == "subscriptionRemoved":
                self._store.delete(sub.tenant_id, sub.subscription_id)
                self._queues.request_subscription_sync(sub.tenant_id, now)
                self._queues.request_refresh(sub.tenant_id, sub.user_id, now, self._settings.coalesce_seconds)
            elif note.event == "missed":
                self._queues.request_refresh(sub.tenant_id, sub.user_id, now, self._settings.coalesce_seconds)
            else:
                self._reauthorize(sub, now)
            self._audit_entry(sub.tenant_id, now, "subscription.lifecycle", note.event,
                              subjects=(sub.user_id,))  # fmt: skip
        return acted

    def _reauthorize(self, sub: Subscription, now: datetime) -> None:
        """Renewing answers `reauthorizationRequired`; a user no longer included loses it instead."""
        if not self._inclusion.fence(sub.tenant_id, sub.user_id, now).allowed:
            self._queues.request_subscription_sync(sub.tenant_id, now)
            return

        async def renew(graph: SubscriptionGraph) -> datetime:
            return await graph.renew_subscription(
                sub.tenant_id, sub.subscription_id, self._settings.policy.expiry(now)
            )

        try:
            expires = run_with_graph(self._graph_factory, renew)
        except GraphNotFound:
            self._store.delete(sub.tenant_id, sub.subscription_id)
            self._queues.request_subscription_sync(sub.tenant_id, now)
            return
        self._store.save(replace(sub, expires_at=expires, renewed_at=now))

    # --- the refresh ----------------------------------------------------------------------------------------

    def refresh(self, tenant_id: str, user_id: str, now: datetime) -> str:
        """One delta round of the user, through the ingestion worker and its fences; what became of it."""
        tenant_id, user_id = tenant_id.lower(), user_id.lower()
        self._queues.refresh_taken(tenant_id, user_id)
        fence = self._inclusion.fence(tenant_id, user_id, now)
        if fence.decision.transient:
            self._queues.request_membership(tenant_id, now)
            raise MembershipPending(
                f"group membership of tenant {tenant_id} is being resolved; retry shortly"
            )
        if not fence.allowed:
            self._audit_entry(tenant_id, now, "notification.dropped", fence.reason, subjects=(user_id,))
            return "dropped"
        window = refresh_window(self._cursors.user(tenant_id, user_id), now)
        if window == "busy":
            self._queues.request_refresh(tenant_id, user_id, now, self._settings.coalesce_seconds)
            return "deferred"
        if window == "not-ready":
            return "not-ready"  # the backfill is still landing; it reads the change anyway
        return self._worker.run(WindowRequest(tenant_id, user_id, INCREMENTAL, window.start, None))

    def _audit_entry(
        self,
        tenant_id: str,
        at: datetime,
        kind: str,
        outcome: str,
        *,
        counts: dict[str, int] | None = None,
        subjects: Iterable[str] = (),
    ) -> None:
        self._audit.append(
            AuditEntry(tenant_id=tenant_id, at=at, kind=kind, outcome=outcome, subject_ids=tuple(subjects),
                       counts=dict(counts or {}))
        )  # fmt: skip


def run_with_graph(
    factory: Callable[[], SubscriptionGraph], work: Callable[[SubscriptionGraph], Coroutine[Any, Any, T]]
) -> T:
    """Run `work` with a Graph client of its own event loop (each invocation runs its own)."""

    async def main() -> T:
        graph = factory()
        try:
            return await work(graph)
        finally:
            await graph.aclose()

    return asyncio.run(main())
