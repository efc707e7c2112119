"""In-memory stand-ins for what the purge service reads and writes: an ETag-guarded ledger, ScopedStores
holding items per (tenant, user), a purge queue with a poison queue, and a member resolver.

`PurgeWorld` wires them into a `PurgeService` (and `PurgeMaintenance`) the way bootstrap does, with a clock
the test moves by hand.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from functions.adapters.purge_queue import PurgeMessage
from functions.adapters.purge_registry import PurgeStores
from functions.adapters.purge_store import StoredPurge
from functions.domain.errors import ConcurrencyConflict
from functions.domain.purge import PurgeRecord
from functions.domain.scope import Scope
from functions.services.maintenance import PurgeMaintenance
from functions.services.purge import FaultHook, PurgeService
from tests.support.memory_stores import MemoryAuditLog

_etags = itertools.count(1)


class MemoryLedger:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[PurgeRecord, str]] = {}
        self.lock = threading.Lock()

    def add(self, record: PurgeRecord) -> PurgeRecord:
        with self.lock:
            self.rows[(record.tenant_id, record.id)] = (record, f"e{next(_etags)}")
        return record

    def get(self, tenant_id: str, purge_id: str) -> PurgeRecord | None:
        stored = self.load(tenant_id, purge_id)
        return stored.record if stored else None

    def load(self, tenant_id: str, purge_id: str) -> StoredPurge | None:
        with self.lock:
            row = self.rows.get((tenant_id, purge_id))
        return StoredPurge(row[0], row[1]) if row else None

    def save(self, record: PurgeRecord, etag: str) -> str | None:
        with self.lock:
            current = self.rows.get((record.tenant_id, record.id))
            if current is None or current[1] != etag:
                raise ConcurrencyConflict(f"purge {record.id} changed since it was read")
            new = f"e{next(_etags)}"
            self.rows[(record.tenant_id, record.id)] = (record, new)
            return new

    def unfinished(self) -> list[PurgeRecord]:
        with self.lock:
            return [r for r, _ in self.rows.values() if r.status != "completed"]


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
        from functions.adapters.purge_queue import parse_purge_message  # noqa: PLC0415

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


class PurgeWorld:
    STORE_NAMES = ("slices", "contacts", "cursors", "introductions")

    def __init__(self, start: datetime, *, faults: FaultHook | None = None) -> None:
        self.clock = Clock(start)
        self.ledger = MemoryLedger()
        self.audit = MemoryAuditLog()
        self.queue = MemoryPurgeQueue()
        self.members = StaticMembers()
        self.live = {name: MemoryScopedStore(name) for name in self.STORE_NAMES}
        self.backups = MemoryScopedStore("backups")
        self.fence_delay = timedelta(minutes=12)
        self.service = PurgeService(
            self.ledger,
            PurgeStores(tuple(self.live.values()), (self.backups,)),
            self.audit,
            self.members,
            fence_delay=self.fence_delay,
            faults=faults,
        )
        self.maintenance = PurgeMaintenance(self.ledger, self.queue)

    @property
    def stores(self) -> Iterable[MemoryScopedStore]:
        return (*self.live.values(), self.backups)

    def seed(self, tenant_id: str, user_id: str, per_store: int = 3) -> None:
        for store in self.stores:
            store.put(tenant_id, user_id, per_store)

    def count(self, tenant_id: str, user_id: str | None = None) -> int:
        scope = Scope("tenant", tenant_id) if user_id is None else Scope("user", tenant_id, user_id=user_id)
        return sum(store.count_scope(scope) for store in self.stores)

    def run(self, record: PurgeRecord) -> None:
        self.service.run(record.tenant_id, record.id, self.clock)

    def run_to_completion(self, record: PurgeRecord) -> PurgeRecord:
        """The first pass, then the sweep once the fence has passed (re-queued by the maintenance timer)."""
        self.run(record)
        self.clock.advance(self.fence_delay)
        self.run(record)
        final = self.ledger.get(record.tenant_id, record.id)
        assert final is not None
        return final
