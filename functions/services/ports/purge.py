"""Ports of the purge: its ledger, the stores it deletes from and verifies, the removal of subscriptions at
Graph, group-member resolution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from functions.domain.purge import PurgeRecord
from functions.domain.purge_subscriptions import PendingSubscription, SubscriptionAttempt
from functions.domain.scope import Scope


@dataclass(frozen=True, slots=True)
class StoredPurge:
    record: PurgeRecord
    etag: str | None


@dataclass(frozen=True, slots=True)
class PurgePage:
    records: list[PurgeRecord]
    continuation: str | None  # opaque; pass back for the next (older) page


class PurgeLedger(Protocol):
    """The purge records of every tenant: who asked for what to be deleted, and the proof that it was."""

    def create(self, record: PurgeRecord) -> tuple[PurgeRecord, bool]:
        """Insert `record` → (record, True); or (the record already stored under its ID, False)."""
        ...

    def get(self, tenant_id: str, purge_id: str) -> PurgeRecord | None: ...

    def load(self, tenant_id: str, purge_id: str) -> StoredPurge | None:
        """The record with its ETag, for `save`."""
        ...

    def save(self, record: PurgeRecord, etag: str) -> str | None:
        """Replace the record if unchanged since read (`ConcurrencyConflict` otherwise); its new ETag."""
        ...

    def list(self, tenant_id: str) -> list[PurgeRecord]:
        """The tenant's purges, newest request first."""
        ...

    def page(self, tenant_id: str, limit: int, continuation: str | None) -> PurgePage:
        """A page of `list`; the continuation names the last record returned."""
        ...

    def unfinished_of(self, tenant_id: str) -> tuple[PurgeRecord, ...]:
        """The tenant's purges not completed yet."""
        ...

    def unfinished(self) -> tuple[PurgeRecord, ...]:
        """Every tenant's purges not completed yet (the maintenance timer's scan)."""
        ...


class ScopedStore(Protocol):
    """A store that can delete, and count, everything it holds of a scope.

    `delete_scope` is idempotent (running it twice is harmless) and never touches another tenant or, for a
    user scope, another user. `count_scope` is what the verification records: it must search the store for
    every trace of the scope, not trust an index that the deletion itself maintains.
    """

    name: str

    def delete_scope(self, scope: Scope) -> int:
        """Delete every trace of `scope`; return how many items were deleted."""
        ...

    def count_scope(self, scope: Scope) -> int:
        """How many traces of `scope` the store still holds (0 after a successful purge)."""
        ...


@dataclass(frozen=True, slots=True)
class PurgeStores:
    """What the purge deletes from and verifies: live stores first (24 hours), then backups (30 days).
    `first` are deleted before the other live stores (the app's rows of its subscriptions: a notification
    for a subscription the app holds no row of is not believed, so nothing is refreshed for a subject while
    its data is being deleted)."""

    live: tuple[ScopedStore, ...]
    backups: tuple[ScopedStore, ...]
    first: tuple[ScopedStore, ...] = ()

    @property
    def all(self) -> tuple[ScopedStore, ...]:
        return self.first + self.live + self.backups


class SubscriptionRemoval(Protocol):
    """Removes a purge's change-notification subscriptions at Microsoft Graph. Graph is not a store the purge
    can wait for: an attempt that Graph refuses says so in its result instead of raising, so the deletion of
    stored data goes on (storage failures still raise)."""

    @property
    def lifetime(self) -> timedelta:
        """How long a subscription lives once made or renewed: the longest Graph can deliver for one that
        nobody renews."""
        ...

    def remove(
        self,
        tenant_id: str,
        scopes: Sequence[Scope],
        known: Sequence[PendingSubscription],
        *,
        again: bool = False,
    ) -> SubscriptionAttempt | None:
        """Delete at Graph every subscription of `scopes`: those the app has rows of, those `known` from an
        earlier attempt, and those Graph lists; then list again to verify. None when there is nothing to ask:
        notifications off, no row, nothing known, and not `again` (an earlier attempt left something
        unverified, so Graph is asked whatever the setting says now)."""
        ...


class MemberResolver(Protocol):
    def members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        """The (lower-cased) object IDs of every user in any of the groups, nested groups included."""
        ...
