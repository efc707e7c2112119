"""In-memory implementations of the consent-side ports: consent and opt-out records, receipts, the audit
log, the purge ledger, the work queues and the tenant list.

They honour the same contracts as the Table Storage adapters (ETags that change on every write, insert-if-
absent, newest-first audit), so service tests and Hypothesis properties run without Azurite; the adapters
themselves are tested against Azurite in tests/integration. tests/support/container.py wires them into the
real composition root.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from functions.domain.audit import AuditEntry, AuditPage
from functions.domain.consent import ConsentChange, TenantConsent
from functions.domain.errors import ConcurrencyConflict
from functions.domain.inclusion import GroupMembership
from functions.domain.optouts import GroupOptOuts, UserOptOut
from functions.domain.purge import PurgeRecord
from functions.services.ports.consent import OptOutSnapshot, Receipt, StoredConsent, StoredGroups, StoredUser
from functions.services.ports.purge import PurgePage, StoredPurge

LEGACY_EXPIRY = {
    "relationship_analytics": datetime(2022, 9, 30, 23, 59, 59, tzinfo=UTC),
    "who_knows_whom": datetime(2022, 7, 30, 23, 59, 59, tzinfo=UTC),
}

_etags = itertools.count(1)


def _etag() -> str:
    return f"W/{next(_etags)}"


class _Versioned:
    """A dict of key -> (value, etag) with ETag-guarded writes, like a table."""

    def __init__(self) -> None:
        self.rows: dict[Any, tuple[Any, str]] = {}
        self.lock = threading.Lock()

    def get(self, key: Any) -> tuple[Any, str | None]:
        with self.lock:
            value, etag = self.rows.get(key, (None, None))
            return value, etag

    def put(self, key: Any, value: Any, etag: str | None) -> str:
        with self.lock:
            current = self.rows.get(key)
            if (current is None) != (etag is None) or (current is not None and current[1] != etag):
                raise ConcurrencyConflict(f"{key}: changed since it was read")
            new = _etag()
            self.rows[key] = (value, new)
            return new


class MemoryConsentStore:
    def __init__(self) -> None:
        self.table = _Versioned()
        self.changes: dict[str, list[ConsentChange]] = {}

    def load(self, tenant_id: str) -> StoredConsent:
        consent, etag = self.table.get(tenant_id)
        return StoredConsent(consent or TenantConsent(tenant_id), etag)

    def save(self, consent: TenantConsent, etag: str | None, changes: Sequence[ConsentChange]) -> None:
        self.table.put(consent.tenant_id, consent, etag)
        self.changes.setdefault(consent.tenant_id, [])[:0] = list(reversed(changes))

    def history(self, tenant_id: str) -> list[ConsentChange]:
        return list(self.changes.get(tenant_id, []))

    def tenants_with_due_legacy(self, now: datetime) -> list[str]:
        rows = list(self.table.rows.values())
        return sorted(
            consent.tenant_id
            for consent, _ in rows
            if any(r.status == "active" and now >= r.expires_at for r in consent.legacy.values())
        )

    def tenant_ids(self) -> list[str]:
        """The tenant list (the Table adapter reads it from the same table)."""
        return sorted({consent.tenant_id.lower() for consent, _ in self.table.rows.values()})


class MemoryOptOutStore:
    def __init__(self) -> None:
        self.table = _Versioned()

    def load_groups(self, tenant_id: str) -> StoredGroups:
        groups, etag = self.table.get((tenant_id, "groups"))
        return StoredGroups(groups or GroupOptOuts(tenant_id), etag)

    def save_groups(self, groups: GroupOptOuts, etag: str | None) -> None:
        self.table.put((groups.tenant_id, "groups"), groups, etag)

    def load_user(self, tenant_id: str, user_id: str) -> StoredUser:
        user, etag = self.table.get((tenant_id, "user", user_id))
        return StoredUser(user, etag)

    def save_user(self, user: UserOptOut, etag: str | None) -> None:
        self.table.put((user.tenant_id, "user", user.user_id), user, etag)

    def users(self, tenant_id: str) -> list[UserOptOut]:
        with self.table.lock:
            return [v for (k, (v, _)) in self.table.rows.items() if k[0] == tenant_id and k[1] == "user"]

    def snapshot(self, tenant_id: str) -> OptOutSnapshot:
        groups = self.load_groups(tenant_id).groups
        return OptOutSnapshot(groups, self.users(tenant_id), self.membership(tenant_id))

    def membership(self, tenant_id: str) -> GroupMembership:
        stored, _ = self.table.get((tenant_id, "membership"))
        return stored or GroupMembership()

    def membership_of(self, tenant_id: str, user_id: str) -> GroupMembership:
        return self.membership(tenant_id).only(user_id)

    def save_membership(self, tenant_id: str, membership: GroupMembership) -> bool:
        with self.table.lock:
            current = self.table.rows.get((tenant_id, "membership"))
        if current is not None and not membership.supersedes(current[0]):
            return False
        self.table.put((tenant_id, "membership"), membership, None if current is None else current[1])
        return True

    def resolved(
        self,
        tenant_id: str,
        members: Mapping[str, Iterable[str]],
        now: datetime,
        groups: Iterable[str] = (),
    ) -> None:
        """Store a resolution, as the membership function would: of the tenant's list, the groups named in
        `members` and `groups` (e.g. those of a legacy record in force)."""
        listed = self.load_groups(tenant_id).groups
        found = {u.lower(): frozenset(gs) for u, gs in members.items() if gs}
        wanted = listed.ids | frozenset(groups) | frozenset(g for gs in found.values() for g in gs)
        self.save_membership(tenant_id, GroupMembership(wanted, found, listed.version, now))


class MemoryPurgeLedger:
    """The purge ledger: insert-if-absent, ETag-guarded saves, newest first, paged."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[PurgeRecord, str]] = {}
        self.lock = threading.Lock()

    @property
    def records(self) -> dict[tuple[str, str], PurgeRecord]:
        return {key: record for key, (record, _) in self.rows.items()}

    def create(self, record: PurgeRecord) -> tuple[PurgeRecord, bool]:
        with self.lock:
            existing = self.rows.get((record.tenant_id, record.id))
            if existing is not None:
                return existing[0], False
            self.rows[(record.tenant_id, record.id)] = (record, _etag())
            return record, True

    def put(self, record: PurgeRecord) -> PurgeRecord:
        """Store `record` as it is (a test arranging the ledger)."""
        with self.lock:
            self.rows[(record.tenant_id, record.id)] = (record, _etag())
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
            new = _etag()
            self.rows[(record.tenant_id, record.id)] = (record, new)
            return new

    def list(self, tenant_id: str) -> list[PurgeRecord]:
        with self.lock:
            found = [r for (t, _), (r, _) in self.rows.items() if t == tenant_id]
        return sorted(found, key=lambda r: (r.requested_at, r.id), reverse=True)

    def page(self, tenant_id: str, limit: int, continuation: str | None) -> PurgePage:
        records = self.list(tenant_id)
        start = int(continuation or 0)
        more = len(records) > start + limit
        return PurgePage(records[start : start + limit], str(start + limit) if more else None)

    def unfinished_of(self, tenant_id: str) -> tuple[PurgeRecord, ...]:
        return tuple(r for r in self.list(tenant_id) if not r.finished)

    def unfinished(self) -> tuple[PurgeRecord, ...]:
        with self.lock:
            return tuple(r for r, _ in self.rows.values() if not r.finished)


class MemoryAuditLog:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []  # newest first
        self._ids = itertools.count(1)

    def append(self, entry: AuditEntry) -> AuditEntry:
        stored = replace(entry, id=str(next(self._ids)))
        self.entries.insert(0, stored)
        return stored

    def page(self, tenant_id: str, limit: int, continuation: str | None) -> AuditPage:
        mine = [e for e in self.entries if e.tenant_id == tenant_id]
        start = int(continuation or 0)
        rest = mine[start + limit :]
        return AuditPage(mine[start : start + limit], str(start + limit) if rest else None)

    def of(self, tenant_id: str) -> list[AuditEntry]:
        return [e for e in self.entries if e.tenant_id == tenant_id]


class MemoryReceiptStore:
    def __init__(self) -> None:
        self.table = _Versioned()

    def claim(self, webhook_id: str, body_sha256: str, now: datetime) -> tuple[bool, Receipt]:
        receipt = Receipt(webhook_id, body_sha256, "pending", now)
        try:
            etag = self.table.put(webhook_id, receipt, None)
        except ConcurrencyConflict:
            existing, etag_existing = self.table.get(webhook_id)
            return False, replace(existing, etag=etag_existing)
        return True, replace(receipt, etag=etag)

    def take_over(self, receipt: Receipt, now: datetime) -> Receipt:
        claimed = replace(receipt, state="pending", claimed_at=now, status=None, body=None)
        return replace(claimed, etag=self.table.put(receipt.webhook_id, claimed, receipt.etag))

    def complete(self, receipt: Receipt, status: int, body: str) -> None:
        self.table.put(
            receipt.webhook_id, replace(receipt, state="done", status=status, body=body), receipt.etag
        )

    def release(self, receipt: Receipt) -> None:
        with self.table.lock:
            current = self.table.rows.get(receipt.webhook_id)
            if current is not None and current[1] == receipt.etag:
                del self.table.rows[receipt.webhook_id]


@dataclass
class MemoryQueues:
    """The work queues, with the same coalescing as the storage ones: at most one pending request of each
    kind per tenant, until a worker says it has `taken` it."""

    purges: list[dict[str, str]] = field(default_factory=list)
    ingest: list[dict[str, str]] = field(default_factory=list)
    membership: list[dict[str, str]] = field(default_factory=list)
    refresh: list[dict[str, str]] = field(default_factory=list)
    pending: set[tuple[str, str]] = field(default_factory=set)

    windows: list[dict[str, Any]] = field(default_factory=list)

    def enqueue_purge(self, tenant_id: str, purge_id: str) -> None:
        self.purges.append({"tenantId": tenant_id, "purgeId": purge_id})

    poisoned: list[tuple[str, str]] = field(default_factory=list)

    def enqueue_windows(self, messages: Iterable[dict[str, Any]]) -> None:
        self.windows.extend(messages)

    def poison(self, queue: str, body: str) -> None:
        self.poisoned.append((queue, body))

    def request_ingestion(self, tenant_id: str, now: datetime) -> bool:
        if ("schedule", tenant_id) in self.pending:
            return False
        self.pending.add(("schedule", tenant_id))
        self.ingest.append({"type": "tenant.schedule", "tenantId": tenant_id})
        return True

    def request_membership(self, tenant_id: str, now: datetime) -> bool:
        if ("membership", tenant_id) in self.pending:
            return False
        self.pending.add(("membership", tenant_id))
        self.membership.append({"type": "groups.resolve", "tenantId": tenant_id})
        return True

    def request_refresh(self, tenant_id: str, user_id: str, now: datetime, delay_seconds: int) -> bool:
        return self._request_refresh(
            f"refresh_{user_id}", tenant_id, {"type": "user.refresh", "userId": user_id}
        )

    def refresh_taken(self, tenant_id: str, user_id: str) -> None:
        self.taken(f"refresh_{user_id}", tenant_id)

    def request_subscription_sync(self, tenant_id: str, now: datetime) -> bool:
        return self._request_refresh("subscriptions", tenant_id, {"type": "subscriptions.sync"})

    def _request_refresh(self, kind: str, tenant_id: str, message: dict[str, str]) -> bool:
        if (kind, tenant_id) in self.pending:
            return False
        self.pending.add((kind, tenant_id))
        self.refresh.append({**message, "tenantId": tenant_id})
        return True

    def taken(self, kind: str, tenant_id: str) -> None:
        self.pending.discard((kind, tenant_id))

    def consume(self) -> None:
        """As if workers had taken every queued request (what a test does before asking what comes next)."""
        self.ingest.clear()
        self.membership.clear()
        self.windows.clear()
        self.pending.clear()
