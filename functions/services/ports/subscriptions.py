"""Ports of change notifications: the subscriptions the app keeps, and Graph's subscription API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from functions.domain.subscriptions import Subscription


class SubscriptionStore(Protocol):
    """The app's record of its subscriptions (Graph has the truth; this holds each one's user and secret)."""

    def get(self, tenant_id: str, subscription_id: str) -> Subscription | None: ...

    def of_tenant(self, tenant_id: str) -> list[Subscription]: ...

    def of_user(self, tenant_id: str, user_id: str) -> list[Subscription]: ...

    def save(self, subscription: Subscription) -> None: ...

    def delete(self, tenant_id: str, subscription_id: str) -> None: ...

    def tenant_ids(self) -> list[str]:
        """Tenants holding any subscription (to clean up after notifications are turned off)."""
        ...


@dataclass(frozen=True, slots=True)
class GraphSubscription:
    """A subscription as Graph lists it."""

    subscription_id: str
    resource: str
    expires_at: datetime
    notification_url: str


class SubscriptionGraph(Protocol):
    async def create_subscription(
        self,
        tenant_id: str,
        *,
        resource: str,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expires_at: datetime,
    ) -> GraphSubscription: ...

    async def renew_subscription(
        self, tenant_id: str, subscription_id: str, expires_at: datetime
    ) -> datetime:
        """The new expiry; `GraphNotFound` when Graph no longer has it."""
        ...

    async def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool:
        """False when Graph had no such subscription (already gone counts as deleted)."""
        ...

    def list_subscriptions(self, tenant_id: str) -> AsyncIterator[GraphSubscription]: ...

    async def aclose(self) -> None: ...


SubscriptionGraphFactory = Callable[[], SubscriptionGraph]
