"""Seed a tenant's data into every real store the purge covers (slices, contact index, cursors,
introductions, backups) through the stores' own write APIs, and count what the purge must find.

Used by the purge's integration and e2e tests, the purge demo chapter and the purge benchmark.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from functions.adapters.backup_store import BlobBackupStore
from functions.adapters.contact_store import TableContactStore
from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.introduction_store import TableIntroductionStore
from functions.adapters.purge_registry import PurgeStores, purge_stores
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients
from functions.adapters.subscription_store import TableSubscriptionStore
from functions.domain.ingestion import Cursor
from functions.domain.interactions import Interaction
from functions.domain.introductions import IntroductionRequest
from functions.domain.scope import Scope

SEEDED_AT = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
BACKUP_DAY = date(2026, 11, 20)


def contact(n: int) -> str:
    """A stand-in contact hash (64 hex digits)."""
    return hashlib.sha256(f"contact-{n}".encode()).hexdigest()


def account(n: int) -> str:
    """A stand-in account hash: contact `n` works at account `n`."""
    return hashlib.sha256(f"@account-{n}".encode()).hexdigest()


def interactions(user_id: str, count: int, *, contacts: int = 5, salt: str = "") -> list[Interaction]:
    """`count` emails of `user_id` with `contacts` contacts (each at an account of its own), one key each."""
    return [
        Interaction(
            key=hashlib.blake2b(f"{salt}{user_id}-{n}".encode(), digest_size=16).hexdigest(),
            kind="email",
            user_id=user_id,
            contact=contact(n % contacts),
            at=SEEDED_AT - timedelta(hours=n),
            direction="sent" if n % 2 else "received",
            user_role="author" if n % 2 else "reader",
            contact_role="reader" if n % 2 else "author",
            conversation=f"conv-{n // 3}",
            minutes=0.0,
            account=account(n % contacts),
        )
        for n in range(count)
    ]


class Seeder:
    """Writes a user's traces into every store, as ingestion and the backup job would."""

    def __init__(self, storage: StorageClients) -> None:
        self.slices = TableSliceStore(storage)
        self.contacts = TableContactStore(storage)
        self.cursors = TableCursorStore(storage)
        self.introductions = TableIntroductionStore(storage)
        self.backups = BlobBackupStore(storage)

    def user(
        self, tenant_id: str, user_id: str, count: int = 10, *, backup_days: Iterable[date] = (BACKUP_DAY,)
    ) -> None:
        written = interactions(user_id, count)
        self.slices.write(tenant_id, user_id, written, "seed-run")
        self.contacts.write(tenant_id, written, "seed-run")
        self.cursors.save(
            Cursor(
                tenant_id,
                user_id,
                "2026-10",
                SEEDED_AT - timedelta(days=30),
                SEEDED_AT,
                "succeeded",
                SEEDED_AT,
            )
        )
        self.introductions.record(IntroductionRequest(tenant_id, user_id, user_id, contact(0), SEEDED_AT))
        for day in backup_days:
            self.backups.write(tenant_id, user_id, day, self.slices.interactions(tenant_id, user_id))


# What `tenant_traces` (and a purge's verification) reads when nothing of a scope is left.
ZERO = dict.fromkeys(
    (
        "subscriptions",
        "accounts",
        "slices",
        "contacts",
        "cursors",
        "introductions",
        "consents",
        "shards-out-of-reach",
        "backups",
    ),
    0,
)


def traces(stores: PurgeStores, scope: Scope) -> dict[str, int]:
    """What each store holds of `scope` (what the purge's verification counts)."""
    return {store.name: store.count_scope(scope) for store in stores.all}


def tenant_traces(storage: StorageClients, tenant_id: str, user_id: str | None = None) -> dict[str, int]:
    """Every store's traces. Subscriptions are the app's rows of them, as the purge's store `subscriptions`
    counts them (the subscriptions at Graph are the purge's `graphSubscriptions`, not a store)."""
    scope = Scope("tenant", tenant_id) if user_id is None else Scope("user", tenant_id, user_id=user_id)
    recorded = TableSubscriptionStore(storage)
    held = recorded.of_tenant(tenant_id) if user_id is None else recorded.of_user(tenant_id, user_id)
    return {"subscriptions": len(held), **traces(purge_stores(storage), scope)}
