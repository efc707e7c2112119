"""The purge's store `subscriptions`: a scope's Graph subscriptions, deleted before any other live data (the
purge registers it as `first`) and counted by listing Graph itself, not by trusting the app's own record."""

from __future__ import annotations

from functions.domain.scope import Scope
from functions.domain.subscriptions import Subscription, parse_resource
from functions.services.ports.subscriptions import (
    GraphSubscription,
    SubscriptionGraph,
    SubscriptionGraphFactory,
    SubscriptionStore,
)
from functions.services.subscriptions import NotificationSettings, run_with_graph


class SubscriptionPurge:
    """The purge's store `subscriptions`: a scope's subscriptions are deleted at Graph and forgotten.

    Counting lists Graph itself (when notifications are on, or the app still records any): a subscription
    Graph has for a user in scope counts even if the app's record of it was lost. Feature scopes hold none
    (subscriptions serve both features; the last feature's expiry is a tenant purge).
    """

    name = "subscriptions"

    def __init__(
        self,
        store: SubscriptionStore,
        graph_factory: SubscriptionGraphFactory,
        settings: NotificationSettings,
    ) -> None:
        self._store, self._graph_factory, self._settings = store, graph_factory, settings

    def delete_scope(self, scope: Scope) -> int:
        if scope.kind == "feature":
            return 0
        recorded = self._recorded(scope)
        if not recorded and not self._settings.enabled:
            return 0

        async def delete(graph: SubscriptionGraph) -> int:
            found = {s.subscription_id for s in recorded} | {
                s.subscription_id for s in await self._at_graph(graph, scope)
            }
            for subscription_id in sorted(found):
                await graph.delete_subscription(scope.tenant_id, subscription_id)
            return len(found)

        deleted = run_with_graph(self._graph_factory, delete)
        for sub in recorded:
            self._store.delete(sub.tenant_id, sub.subscription_id)
        return deleted

    def count_scope(self, scope: Scope) -> int:
        if scope.kind == "feature":
            return 0
        recorded = self._recorded(scope)
        if not recorded and not self._settings.enabled:
            return 0

        async def count(graph: SubscriptionGraph) -> int:
            return len({s.subscription_id for s in recorded} | {
                s.subscription_id for s in await self._at_graph(graph, scope)
            })  # fmt: skip

        return run_with_graph(self._graph_factory, count)

    def _recorded(self, scope: Scope) -> list[Subscription]:
        if scope.kind == "user":
            return self._store.of_user(scope.tenant_id, str(scope.user_id))
        return self._store.of_tenant(scope.tenant_id)

    async def _at_graph(self, graph: SubscriptionGraph, scope: Scope) -> list[GraphSubscription]:
        found = []
        async for sub in graph.list_subscriptions(scope.tenant_id):
            if sub.notification_url.rstrip("/") != self._settings.notification_url:
                continue
            target = parse_resource(sub.resource)
            if scope.kind == "tenant" or (target is not None and target[0] == str(scope.user_id).lower()):
                found.append(sub)
        return found
