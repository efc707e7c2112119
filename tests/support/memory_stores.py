"""In-memory stand-ins for the consent, opt-out, purge, receipt and audit stores and the work queues.

They honour the same contracts as the Table Storage adapters (ETags that change on every write, insert-if-
absent, newest-first audit), so service tests and Hypothesis properties run without Azurite; the adapters
themselves are tested against Azurite in tests/integration. `Services` wires them the way bootstrap does.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from functions.adapters.consent_store import StoredConsent
from functions.adapters.optout_store import StoredGroups, StoredUser
from functions.adapters.receipt_store import Receipt
from functions.domain.audit import AuditEntry, AuditPage
from functions.domain.consent import ConsentChange, TenantConsent
from functions.domain.errors import ConcurrencyConflict
from functions.domain.optouts import GroupOptOuts, UserOptOut
from functions.domain.purge import PurgeRecord
from functions.services.consent import ConsentService, PurgeRequests
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

    def group_excluded(self, tenant_id: str) -> frozenset[str]:
        excluded, _ = self.table.get((tenant_id, "excluded"))
        return excluded or frozenset()

    def is_group_excluded(self, tenant_id: str, user_id: str) -> bool:
        return user_id.lower() in self.group_excluded(tenant_id)

    def replace_group_excluded(self, tenant_id: str, user_ids: Iterable[str], now: datetime) -> None:  # noqa: ARG002 (the table keeps when; this stand-in need not)
        _, etag = self.table.get((tenant_id, "excluded"))
        self.table.put((tenant_id, "excluded"), frozenset(u.lower() for u in user_ids), etag)


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
    purges: list[dict[str, str]] = field(default_factory=list)
    ingest: list[dict[str, str]] = field(default_factory=list)

    def enqueue_purge(self, tenant_id: str, purge_id: str) -> None:
        self.purges.append({"tenantId": tenant_id, "purgeId": purge_id})

    def request_ingestion(self, tenant_id: str) -> None:
        self.ingest.append({"type": "tenant.schedule", "tenantId": tenant_id})


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
        self.optout = OptOutService(self.optouts, requests, self.audit, group_policy=group_policy)
        self.webhooks = WebhookService(self.receipts, self.consent, self.optout, self.audit)
