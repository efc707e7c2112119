"""Ports of the consent side: the consent and opt-out records, webhook receipts, the audit log, tenants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from functions.domain.audit import AuditEntry, AuditPage
from functions.domain.consent import ConsentChange, TenantConsent
from functions.domain.inclusion import GroupMembership
from functions.domain.optouts import GroupOptOuts, UserOptOut


@dataclass(frozen=True, slots=True)
class StoredConsent:
    consent: TenantConsent
    etag: str | None  # None: never saved


class ConsentStore(Protocol):
    def load(self, tenant_id: str) -> StoredConsent: ...

    def save(self, consent: TenantConsent, etag: str | None, changes: Sequence[ConsentChange]) -> None:
        """Write the state and append `changes`; `ConcurrencyConflict` if it changed since `load`."""
        ...

    def history(self, tenant_id: str) -> list[ConsentChange]:
        """The change history, newest first."""
        ...

    def tenants_with_due_legacy(self, now: datetime) -> list[str]:
        """Tenants holding a legacy record whose expiry has passed and that is not recorded as ended."""
        ...


@dataclass(frozen=True, slots=True)
class StoredGroups:
    groups: GroupOptOuts
    etag: str | None


@dataclass(frozen=True, slots=True)
class StoredUser:
    user: UserOptOut | None
    etag: str | None


@dataclass(frozen=True, slots=True)
class OptOutSnapshot:
    """Everything the opt-out store holds of a tenant, read at once (what an inclusion decision needs)."""

    groups: GroupOptOuts
    users: list[UserOptOut]
    membership: GroupMembership


class OptOutStore(Protocol):
    def snapshot(self, tenant_id: str) -> OptOutSnapshot:
        """The group list, every user row and the resolved membership, in one read."""
        ...

    def load_groups(self, tenant_id: str) -> StoredGroups: ...

    def save_groups(self, groups: GroupOptOuts, etag: str | None) -> None: ...

    def load_user(self, tenant_id: str, user_id: str) -> StoredUser: ...

    def save_user(self, user: UserOptOut, etag: str | None) -> None: ...

    def users(self, tenant_id: str) -> list[UserOptOut]:
        """Every user row of the tenant (opted out or back in)."""
        ...

    def membership(self, tenant_id: str) -> GroupMembership:
        """The stored resolution of the opted-out groups, with every member."""
        ...

    def membership_of(self, tenant_id: str, user_id: str) -> GroupMembership:
        """The stored resolution, knowing only `user_id`'s groups."""
        ...

    def save_membership(self, tenant_id: str, membership: GroupMembership) -> bool:
        """Store a resolution; False (nothing replaced) when one of a newer group list is stored."""
        ...


ReceiptState = Literal["pending", "done"]


@dataclass(frozen=True, slots=True)
class Receipt:
    webhook_id: str
    body_sha256: str
    state: ReceiptState
    claimed_at: datetime
    status: int | None = None
    body: str | None = None
    etag: str | None = None


class ReceiptStore(Protocol):
    def claim(self, webhook_id: str, body_sha256: str, now: datetime) -> tuple[bool, Receipt]:
        """(True, our pending receipt) when this call claimed the id; (False, the existing one) otherwise."""
        ...

    def take_over(self, receipt: Receipt, now: datetime) -> Receipt:
        """Claim an abandoned pending receipt; `ConcurrencyConflict` if someone else changed it first."""
        ...

    def complete(self, receipt: Receipt, status: int, body: str) -> None: ...

    def release(self, receipt: Receipt) -> None: ...


class AuditLog(Protocol):
    def append(self, entry: AuditEntry) -> AuditEntry: ...

    def page(self, tenant_id: str, limit: int, continuation: str | None) -> AuditPage: ...


class TenantList(Protocol):
    def tenant_ids(self) -> list[str]:
        """Every tenant with a consent or legacy record."""
        ...
