"""The purge's store registry: every store that keeps anything of a tenant or one of its users.

A store that holds subject data implements `ScopedStore` (functions/services/ports/purge.py) and is listed
here, or the purge can neither delete nor verify it. Live stores are deleted first (24-hour promise), backups
next (30-day promise, but deleted at once); the verification counts both.

Not purged, on purpose, and each with its reason in `KEPT_STORES`: the consent and opt-out records (they are
what keeps a subject excluded), the purge ledger and the audit log (object IDs only, kept to prove and
re-apply purges), webhook receipts (no subject), the queues. The consent rows are kept, but an earlier
version stored an acting admin's UPN in them: `ConsentActorScrub` is the live store that removes it (and
the verification counts what is left of it) without deleting the rows. A test
(tests/unit/test_purge_registry.py) finds every storage-backed class of `functions.adapters` and fails unless
it is in one of the three lists, so a new store of subject data cannot be added without the purge knowing it.

A sharded table (the per-user ones: slices, contacts) is listed once and registered once per storage shard, so
that the evidence gives each shard's count (`slices`, `slices@shard1`, ...). `ShardsOutOfReach` deletes
nothing: it counts the shards noted for the tenant (table `shards`, kept: a tenant ID and an endpoint) that
`DATA_SHARDS` no longer names, so a purge cannot verify zero while rows sit where it does not search.

Subscriptions (`TableSubscriptionStore`) are purged first, before any live store, in two parts
(functions/services/subscription_purge.py): the purge's store `subscriptions` (`SubscriptionRows`, which the
container passes in as `first`) deletes and counts the app's rows like any store, and the removal at Graph
(`GraphSubscriptionRemoval`) deletes the subscriptions themselves and lists Graph to verify, without Graph's
failure ever holding up the deletion of stored data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from functions.adapters.account_store import TableAccountStore
from functions.adapters.audit_store import TableAuditLog
from functions.adapters.backup_store import BlobBackupStore
from functions.adapters.consent_store import ConsentActorScrub, TableConsentStore
from functions.adapters.contact_store import TableContactStore
from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.introduction_store import TableIntroductionStore
from functions.adapters.optout_store import TableOptOutStore
from functions.adapters.purge_queue import StoragePurgeQueue
from functions.adapters.purge_store import TablePurgeStore
from functions.adapters.queues import StorageWorkQueues
from functions.adapters.receipt_store import TableReceiptStore
from functions.adapters.scoped_table import ScopedTableStore
from functions.adapters.settings_store import TableSettingsStore
from functions.adapters.shard_placements import ShardsOutOfReach
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients
from functions.adapters.subscription_store import TableSubscriptionStore
from functions.adapters.tenant_list import TableTenantList
from functions.services.ports.purge import PurgeStores, ScopedStore

LIVE_STORES: tuple[type[ScopedTableStore], ...] = (
    TableAccountStore,
    TableSliceStore,
    TableContactStore,
    TableCursorStore,
    TableIntroductionStore,
    ConsentActorScrub,
    ShardsOutOfReach,
)
BACKUP_STORES: tuple[Callable[[StorageClients], ScopedStore], ...] = (BlobBackupStore,)
# Purged first, by the store the container builds around each, and removed at Graph (see above).
PURGED_THROUGH_GRAPH: Mapping[type, str] = {
    TableSubscriptionStore: "the app's rows of a user's Graph subscriptions: deleted and verified; the "
    "subscriptions themselves are removed at Graph",
}
# Storage-backed classes that keep nothing a purge must delete, and why.
KEPT_STORES: Mapping[type, str] = {
    TableConsentStore: (
        "the consent and its history: what keeps a withdrawn tenant out (actors by object ID only; the UPN an"
        " earlier version stored is ConsentActorScrub's to remove)"
    ),
    TableOptOutStore: "opt-outs and resolved group membership: what keeps a subject out (object IDs only)",
    TablePurgeStore: "the purge ledger: the proof, and what a restore re-applies (object IDs, counts)",
    TableAuditLog: "append-only evidence: object IDs, types, outcomes and counts, never content",
    TableReceiptStore: "webhook idempotency: a body hash and our response, no subject data",
    TableTenantList: "reads tenant IDs from the consents table; stores nothing",
    StorageWorkQueues: "queue messages and pending requests: tenant, user and purge IDs, no content",
    StoragePurgeQueue: "purge messages: tenant and purge IDs",
    TableSettingsStore: "a tenant's insight settings: configuration, and who changed it (an object ID)",
}


def purge_stores(storage: StorageClients, first: tuple[ScopedStore, ...] = ()) -> PurgeStores:
    return PurgeStores(
        live=tuple(view for store in LIVE_STORES for view in _views(store, storage)),
        backups=tuple(make(storage) for make in BACKUP_STORES),
        first=first,
    )


def _views(store: type[ScopedTableStore], storage: StorageClients) -> tuple[ScopedTableStore, ...]:
    if not store.sharded:
        return (store(storage),)
    return tuple(store(storage, shard=index) for index in range(len(storage.shards)))
