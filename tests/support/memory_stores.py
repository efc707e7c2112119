"""In-memory stand-ins for the consent, opt-out, purge, receipt and audit stores and the work queues.

They honour the same contracts as the Table Storage adapters (ETags that change on every write, insert-if-
absent, newest-first audit), so service tests and Hypothesis properties run without Azurite; the adapters
themselves are tested against Azurite in tests/integration. `Services` wires them the way bootstrap does.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from functions.adapters.consent_store import StoredConsent
from functions.adapters.optout_store import OptOutSnapshot, StoredGroups, StoredUser
from functions.adapters.receipt_store import Receipt
from functions.domain.audit import AuditEntry, AuditPage
from functions.domain.consent import ConsentChange, TenantConsent
from functions.domain.errors import ConcurrencyConflict
from functions.domain.inclusion import GroupMembership
from functions.domain.optouts import GroupOptOuts, UserOptOut
from functions.domain.purge import PurgeRecord
from functions.services.consent import ConsentService, PurgeRequests, api_provenance
from functions.services.inclusion import InclusionReader
from functions.services.optouts import OptOutService
from functions.services.webhooks import WebhookService
from functions.settings import GroupOptOutPolicy

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


class MemoryPurgeStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], PurgeRecord] = {}
        self.lock = threading.Lock()

    def create(self, record: PurgeRecord) -> tuple[PurgeRecord, bool]:
        with self.lock:
            existing = self.records.get((record.tenant_id, record.id))
            if existing is not None:
                return existing, False
            self.records[(record.tenant_id, record.id)] = record
            return record, True

    def get(self, tenant_id: str, purge_id: str) -> PurgeRecord | None:
        return self.records.get((tenant_id, purge_id))

    def list(self, tenant_id: str) -> list[PurgeRecord]:
        found = [r for (t, _), r in self.records.items() if t == tenant_id]
        return sorted(found, key=lambda r: (r.requested_at, r.id), reverse=True)

    def unfinished_of(self, tenant_id: str) -> tuple[PurgeRecord, ...]:
        return tuple(r for r in self.list(tenant_id) if not r.finished)


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
    pending: set[tuple[str, str]] = field(default_factory=set)

    def enqueue_purge(self, tenant_id: str, purge_id: str) -> None:
        self.purges.append({"tenantId": tenant_id, "purgeId": purge_id})

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

    def taken(self, kind: str, tenant_id: str) -> None:
        self.pending.discard((kind, tenant_id))

    def consume(self) -> None:
        """As if workers had taken every queued request (what a test does before asking what comes next)."""
        self.ingest.clear()
        self.membership.clear()
        self.pending.clear()


class Services:
    """The consent, opt-out and webhook services over in-memory stores, wired as bootstrap wires them."""

    def __init__(self, group_policy: GroupOptOutPolicy = "purge") -> None:
        self.consents = MemoryConsentStore()
        self.optouts = MemoryOptOutStore()
        self.purges = MemoryPurgeStore()
        self.audit = MemoryAuditLog()
        self.receipts = MemoryReceiptStore()
        self.queues = MemoryQueues()
        requests = PurgeRequests(self.purges, self.queues, self.audit)
        self.consent = ConsentService(
            self.consents, self.optouts, requests, self.queues, self.audit,
            group_policy=group_policy, legacy_expiry=LEGACY_EXPIRY,
        )  # fmt: skip
        self.optout = OptOutService(
            self.optouts, requests, self.queues, self.audit, group_policy=group_policy
        )
        self.webhooks = WebhookService(self.receipts, self.consent, self.optout, self.audit)
        self.inclusion = InclusionReader(self.consents, self.optouts, self.purges)

    def exclude_by_group(self, tenant_id: str, user_ids: Iterable[str], now: datetime) -> str:
        """Opt out a new group holding `user_ids` and store its resolution; the group's ID."""
        group = str(uuid.uuid4())
        listed = self.optouts.load_groups(tenant_id).groups.ids
        provenance = api_provenance(None, now)
        self.optout.replace_groups(tenant_id, listed | {group}, provenance, enforce_order=False)
        members = {u: set(g) for u, g in self.optouts.membership(tenant_id).members.items()}
        for user in user_ids:
            members.setdefault(user.lower(), set()).add(group)
        self.optouts.resolved(tenant_id, members, now)
        return group
