"""In-memory stand-ins for what the purge reads and writes besides the ledger (memory_stores.py):
ScopedStores that count items per (tenant, user), the `purges` queue with its poison queue, a member resolver,
a clock the test moves by hand, an audit log that lets a test act between two steps of a purge, and the
app's subscriptions with Graph's side of them (which can be told to refuse).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from functions.adapters.purge_queue import parse_purge_message
from functions.domain.audit import AuditEntry, AuditPage
from functions.domain.errors import GraphError, GraphNotFound
from functions.domain.scope import Scope
from functions.domain.subscriptions import ResourceKind, Subscription, resource_of
from functions.services.ports.consent import AuditLog
from functions.services.ports.queues import PurgeMessage
from functions.services.ports.subscriptions import GraphSubscription

StepHook = Callable[[str], None]


class AfterEachStep:
    """An audit log that calls `hook(step)` each time a purge step is recorded (the purge saves a step's
    record, then audits it; the last is `completed`): how tests crash the purge function between two steps,
    restart storage or deliver the message a second time. Everything else goes straight to `inner`."""

    def __init__(self, inner: AuditLog, hook: StepHook | None = None) -> None:
        self.inner, self.hook = inner, hook

    def append(self, entry: AuditEntry) -> AuditEntry:
        stored = self.inner.append(entry)
        if self.hook is not None and entry.kind in ("purge.step", "purge.completed"):
            self.hook(entry.outcome if entry.kind == "purge.step" else "completed")
        return stored

    def page(self, tenant_id: str, limit: int, continuation: str | None) -> AuditPage:
        return self.inner.page(tenant_id, limit, continuation)


class MemoryScopedStore:
    """Items per (tenant, user); a tenant scope covers every user of the tenant, a feature scope nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()
        self.fail_deletes = 0  # how many delete_scope calls raise before they work again

    def put(self, tenant_id: str, user_id: str, count: int = 1) -> None:
        with self.lock:
            self.items[(tenant_id, user_id)] = self.items.get((tenant_id, user_id), 0) + count

    def _matches(self, scope: Scope) -> list[tuple[str, str]]:
        if scope.kind == "feature":
            return []
        return [k for k in self.items if k[0] == scope.tenant_id and scope.user_id in (None, k[1])]

    def delete_scope(self, scope: Scope) -> int:
        with self.lock:
            if self.fail_deletes:
                self.fail_deletes -= 1
                raise OSError(f"{self.name} is unavailable")
            return sum(self.items.pop(k) for k in self._matches(scope))

    def count_scope(self, scope: Scope) -> int:
        with self.lock:
            return sum(self.items[k] for k in self._matches(scope))

    def total(self, tenant_id: str) -> int:
        return sum(v for (t, _), v in self.items.items() if t == tenant_id)


@dataclass
class MemoryPurgeQueue:
    sent: list[PurgeMessage] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)

    def enqueue(self, tenant_id: str, purge_id: str) -> None:
        self.sent.append(PurgeMessage(tenant_id, purge_id))

    def requeue_poison(self, keep: Callable[[PurgeMessage], bool]) -> list[PurgeMessage]:
        moved, kept = [], []
        for body in self.poison:
            message = parse_purge_message(body)
            if message is None:
                kept.append(body)
                continue
            if keep(message):
                self.enqueue(message.tenant_id, message.purge_id)
                moved.append(message)
        self.poison = kept
        return moved


@dataclass
class StaticMembers:
    groups: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (tenant, group) -> users
    calls: int = 0

    def members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        self.calls += 1
        return frozenset(u for g in group_ids for u in self.groups.get((tenant_id, g), set()))


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class MemorySubscriptionStore:
    """The app's `subscriptions` table: rows by (tenant, Graph's subscription ID)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Subscription] = {}

    def get(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        return self.rows.get((tenant_id.lower(), subscription_id))

    def of_tenant(self, tenant_id: str) -> list[Subscription]:
        return [s for (t, _), s in sorted(self.rows.items()) if t == tenant_id.lower()]

    def of_user(self, tenant_id: str, user_id: str) -> list[Subscription]:
        return [s for s in self.of_tenant(tenant_id) if s.user_id == user_id.lower()]

    def save(self, subscription: Subscription) -> None:
        self.rows[subscription.tenant_id.lower(), subscription.subscription_id] = subscription

    def delete(self, tenant_id: str, subscription_id: str) -> None:
        self.rows.pop((tenant_id.lower(), subscription_id), None)

    def tenant_ids(self) -> list[str]:
        return sorted({t for t, _ in self.rows})


class MemorySubscriptionGraph:
    """Graph's subscription API for every tenant, in memory; the factory hands out this one object.

    `refuse` makes the calls it names (`list`, `delete`, `create`, `renew`) raise `refusal`, as Graph does
    when it cannot be reached or the customer removed the app (no token for the tenant any more); `delay`
    makes every call take that long."""

    def __init__(self, notification_url: str) -> None:
        self.notification_url = notification_url
        self.held: dict[str, tuple[str, GraphSubscription]] = {}  # subscription ID -> (tenant, subscription)
        self.refuse: set[str] = set()
        self.refusal: GraphError = GraphError("no Graph token for the tenant: AADSTS7000229 (app removed)")
        self.delay = 0.0  # seconds each call takes (a Graph that hangs)
        self.calls: list[str] = []

    def subscribe(self, tenant_id: str, user_id: str, kind: ResourceKind, expires_at: datetime) -> str:
        """A subscription Graph holds for a user's resource, made by the app; its ID."""
        sub_id = str(uuid.uuid4())
        resource = resource_of(user_id, kind)
        self.held[sub_id] = (
            tenant_id,
            GraphSubscription(sub_id, resource, expires_at, self.notification_url),
        )
        return sub_id

    def of(self, tenant_id: str) -> list[GraphSubscription]:
        return [s for t, s in self.held.values() if t == tenant_id]

    async def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.delay:
            await asyncio.sleep(self.delay)
        if name in self.refuse:
            raise self.refusal

    async def create_subscription(
        self,
        tenant_id: str,
        *,
        resource: str,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expires_at: datetime,
    ) -> GraphSubscription:
        await self._call("create")
        sub = GraphSubscription(str(uuid.uuid4()), resource, expires_at, notification_url)
        self.held[sub.subscription_id] = (tenant_id, sub)
        return sub

    async def renew_subscription(
        self, tenant_id: str, subscription_id: str, expires_at: datetime
    ) -> datetime:
        await self._call("renew")
        if subscription_id not in self.held:
            raise GraphNotFound(f"no subscription {subscription_id}")
        tenant, sub = self.held[subscription_id]
        self.held[subscription_id] = (tenant, replace(sub, expires_at=expires_at))
        return expires_at

    async def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool:
        await self._call("delete")
        return self.held.pop(subscription_id, None) is not None

    async def list_subscriptions(self, tenant_id: str) -> AsyncIterator[GraphSubscription]:
        await self._call("list")
        for sub in self.of(tenant_id):
            yield sub

    async def aclose(self) -> None:
        return None
