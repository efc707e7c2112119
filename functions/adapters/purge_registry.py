"""The purge's store registry: every store that keeps anything of a tenant or one of its users.

A store that holds subject data implements `ScopedStore` (functions/adapters/scoped.py) and is listed here,
or the purge can neither delete nor verify it. Live stores are deleted first (24-hour promise), backups next
(30-day promise, but deleted at once); the verification counts both.

Not listed, on purpose: the consent and opt-out records (they are what keeps a subject excluded), the purge
ledger and the audit log (object IDs only, kept to prove and re-apply purges), webhook receipts (no subject).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from functions.adapters.backup_store import BlobBackupStore
from functions.adapters.contact_store import TableContactStore
from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.introduction_store import TableIntroductionStore
from functions.adapters.scoped import ScopedStore
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients

LIVE_STORES: tuple[Callable[[StorageClients], ScopedStore], ...] = (
    TableSliceStore,
    TableContactStore,
    TableCursorStore,
    TableIntroductionStore,
)
BACKUP_STORES: tuple[Callable[[StorageClients], ScopedStore], ...] = (BlobBackupStore,)


@dataclass(frozen=True, slots=True)
class PurgeStores:
    """What the purge deletes from and verifies."""

    live: tuple[ScopedStore, ...]
    backups: tuple[ScopedStore, ...]

    @property
    def all(self) -> tuple[ScopedStore, ...]:
        return self.live + self.backups


def purge_stores(storage: StorageClients) -> PurgeStores:
    return PurgeStores(
        live=tuple(make(storage) for make in LIVE_STORES),
        backups=tuple(make(storage) for make in BACKUP_STORES),
    )
