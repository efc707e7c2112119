"""What the purge does with a scope's change-notification subscriptions, in two parts, because only one of
them can be promised:

- `SubscriptionRows` is the store `subscriptions`: the app's own rows (table `subscriptions`: user, resource,
  expiry, the hash of the secret). It is deleted before any other live data (the purge registers it as
  `first`) and verified like every store: the live deadline depends on it.
- `GraphSubscriptionRemoval` removes the subscriptions at Microsoft Graph: those the rows name, those an
  earlier attempt could not delete, and those Graph itself lists for a user of the scope (one whose row was
  lost is found there); then it lists again, and only a listing without any is "removed". Graph may be down,
  or refuse us because the customer removed the app, exactly when a withdrawal must be honoured: so a failed
  attempt is a result (what is left, with each one's expiry, and the error's class), never an exception
  that would stop the deletion of stored data; so is an attempt that runs out of its time budget
  (`ATTEMPT_BUDGET`). The purge service records it, asks again later, and stops asking once none of them
  can deliver any more (functions/domain/purge.py `GraphSubscriptions`).

Meanwhile a subscription Graph still holds cannot bring anything back: a notification is believed only for
a subscription the app has a row of (gone with the first deletion), and even then the inclusion fence drops
it for a scope withdrawn, opted out or held by its unfinished purge (functions/services/subscriptions.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta

from functions.domain.errors import GraphError, failure_summary
from functions.domain.purge_subscriptions import PendingSubscription, SubscriptionAttempt
from functions.domain.scope import Scope
from functions.domain.subscriptions import Subscription, parse_resource
from functions.services.ports.subscriptions import (
    GraphSubscription,
    SubscriptionGraph,
    SubscriptionGraphFactory,
    SubscriptionStore,
)
from functions.services.subscriptions import NotificationSettings, run_with_graph

logger = logging.getLogger(__name__)

# One attempt's share of a purge delivery (which the host stops after 10 minutes): a Graph that answers
# slowly, or a tenant with many subscriptions, must leave the rest for the stored data. What an attempt did
# not get to stays pending, and the next attempt goes on from there.
ATTEMPT_BUDGET = timedelta(minutes=2)


class SubscriptionRows:
    """The purge's store `subscriptions`: the app's rows of a scope's subscriptions. Feature scopes hold none
    (subscriptions serve both features; the last feature's expiry is a tenant purge)."""

    name = "subscriptions"

    def __init__(self, store: SubscriptionStore) -> None:
        self._store = store

    def delete_scope(self, scope: Scope) -> int:
        rows = recorded(self._store, scope)
        for sub in rows:
            self._store.delete(sub.tenant_id, sub.subscription_id)
        return len(rows)

    def count_scope(self, scope: Scope) -> int:
        return len(recorded(self._store, scope))


class GraphSubscriptionRemoval:
    """The purge's removal of a scope's subscriptions at Graph (`SubscriptionRemoval`)."""

    def __init__(
        self,
        store: SubscriptionStore,
        graph_factory: SubscriptionGraphFactory,
        settings: NotificationSettings,
        *,
        budget: timedelta = ATTEMPT_BUDGET,
    ) -> None:
        self._store, self._graph_factory, self._settings = store, graph_factory, settings
        self._budget = budget

    @property
    def lifetime(self) -> timedelta:
        return self._settings.policy.lifetime

    def remove(
        self,
        tenant_id: str,
        scopes: Sequence[Scope],
        known: Sequence[PendingSubscription],
        *,
        again: bool = False,
    ) -> SubscriptionAttempt | None:
        scopes = [s for s in scopes if s.kind != "feature"]
        if not scopes:
            return None
        rows = self._rows(tenant_id, scopes)
        candidates = _latest([*known, *(PendingSubscription(s.subscription_id, s.expires_at) for s in rows)])
        if not candidates and not again and not self._settings.enabled:
            return None
        deleted: set[str] = set()
        listed = False

        async def work(graph: SubscriptionGraph) -> list[GraphSubscription]:
            nonlocal listed
            at_graph = await self._at_graph(graph, tenant_id, scopes)
            candidates.update(_latest([*candidates.values(), *(_pending(s) for s in at_graph)]))
            listed = True
            for subscription_id in sorted(candidates):
                await graph.delete_subscription(tenant_id, subscription_id)  # False: already gone
                deleted.add(subscription_id)
            return await self._at_graph(graph, tenant_id, scopes)

        async def bounded(graph: SubscriptionGraph) -> list[GraphSubscription]:
            return await asyncio.wait_for(work(graph), self._budget.total_seconds())

        try:
            left = run_with_graph(self._graph_factory, bounded)
        except (GraphError, TimeoutError) as error:
            # The log is the operator's (Graph's message says why, e.g. the app's consent was removed); the
            # record and the audit log keep the error's class only.
            logger.warning("purge: subscriptions of tenant %s not removed at Graph: %s", tenant_id, error)
            remaining = tuple(p for i, p in sorted(candidates.items()) if i not in deleted)
            return SubscriptionAttempt(
                len(deleted), remaining, listed, verified=False, error=failure_summary(error)
            )
        if left:
            remaining = tuple(
                sorted(_latest(_pending(s) for s in left).values(), key=lambda p: p.subscription_id)
            )
            return SubscriptionAttempt(
                len(deleted), remaining, listed=True, verified=False, error="StillListed"
            )
        return SubscriptionAttempt(len(deleted), (), listed=True, verified=True)

    def _rows(self, tenant_id: str, scopes: Sequence[Scope]) -> list[Subscription]:
        """The app's rows of `scopes`: one read, also for a group's many members."""
        if len(scopes) == 1:
            return recorded(self._store, scopes[0])
        whole_tenant, users = _covered(scopes)
        return [s for s in self._store.of_tenant(tenant_id) if whole_tenant or s.user_id.lower() in users]

    async def _at_graph(
        self, graph: SubscriptionGraph, tenant_id: str, scopes: Sequence[Scope]
    ) -> list[GraphSubscription]:
        """Graph's subscriptions of the app (its notification URL) on a resource of a user in `scopes`."""
        whole_tenant, users = _covered(scopes)
        found = []
        async for sub in graph.list_subscriptions(tenant_id):
            if sub.notification_url.rstrip("/") != self._settings.notification_url:
                continue
            target = parse_resource(sub.resource)
            if whole_tenant or (target is not None and target[0] in users):
                found.append(sub)
        return found


def _covered(scopes: Sequence[Scope]) -> tuple[bool, frozenset[str]]:
    """Whether `scopes` cover the whole tenant, and the (lower-cased) users they name."""
    whole_tenant = any(s.kind == "tenant" for s in scopes)
    return whole_tenant, frozenset(str(s.user_id).lower() for s in scopes if s.kind == "user")


def recorded(store: SubscriptionStore, scope: Scope) -> list[Subscription]:
    """The app's rows of the scope's subscriptions."""
    if scope.kind == "feature":
        return []
    if scope.kind == "user":
        return store.of_user(scope.tenant_id, str(scope.user_id))
    return store.of_tenant(scope.tenant_id)


def _pending(sub: GraphSubscription) -> PendingSubscription:
    return PendingSubscription(sub.subscription_id, sub.expires_at)


def _latest(subs: Iterable[PendingSubscription]) -> dict[str, PendingSubscription]:
    """One entry per subscription ID, with the latest expiry anyone reported for it."""
    latest: dict[str, PendingSubscription] = {}
    for sub in subs:
        seen = latest.get(sub.subscription_id)
        if seen is None or sub.expires_at > seen.expires_at:
            latest[sub.subscription_id] = sub
    return latest
