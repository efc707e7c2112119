"""In-memory stand-ins for what the purge reads and writes besides the ledger (memory_stores.py):
ScopedStores that count items per (tenant, user), the `purges` queue with its poison queue, a member resolver,
a clock the test moves by hand, and an audit log that lets a test act between two steps of a purge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from functions.adapters.purge_queue import parse_purge_message
from functions.domain.audit import AuditEntry, AuditPage
from functions.domain.scope import Scope
from functions.services.ports.consent import AuditLog
from functions.services.ports.queues import PurgeMessage

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
