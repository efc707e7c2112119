"""The app's record of its Graph subscriptions on Azurite: one row per subscription, per tenant, holding the
hash of the secret."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters.storage import StorageClients
from functions.adapters.subscription_store import TABLE, TableSubscriptionStore
from functions.domain.subscriptions import ResourceKind, Subscription, client_state_hash

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(storage_clients: StorageClients) -> TableSubscriptionStore:
    return TableSubscriptionStore(storage_clients)


def subscription(
    tenant_id: str, user_id: str, kind: ResourceKind = "messages", **changes: object
) -> Subscription:
    values: dict[str, object] = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "kind": kind,
        "subscription_id": str(uuid.uuid4()),
        "client_state_sha256": client_state_hash(f"secret-{uuid.uuid4()}"),
        "expires_at": NOW + timedelta(days=3),
        "created_at": NOW,
    }
    values.update(changes)
    return Subscription(**values)  # type: ignore[arg-type]


def user() -> str:
    return str(uuid.uuid4())


def test_a_saved_subscription_reads_back_equal(store: TableSubscriptionStore, tenant_id: str) -> None:
    saved = subscription(tenant_id, user(), "events", renewed_at=NOW + timedelta(hours=1))
    store.save(saved)
    assert store.get(tenant_id, saved.subscription_id) == saved


def test_a_never_renewed_subscription_reads_back_without_a_renewal(
    store: TableSubscriptionStore, tenant_id: str
) -> None:
    saved = subscription(tenant_id, user())
    store.save(saved)
    found = store.get(tenant_id, saved.subscription_id)
    assert found is not None
    assert found.renewed_at is None


def test_saving_again_replaces_the_row(store: TableSubscriptionStore, tenant_id: str) -> None:
    first = subscription(tenant_id, user())
    store.save(first)
    renewed = subscription(
        tenant_id,
        first.user_id,
        subscription_id=first.subscription_id,
        client_state_sha256=first.client_state_sha256,
        expires_at=NOW + timedelta(days=5),
        renewed_at=NOW + timedelta(days=2),
    )
    store.save(renewed)
    assert store.get(tenant_id, first.subscription_id) == renewed
    assert store.of_tenant(tenant_id) == [renewed]


def test_ids_are_kept_in_lower_case_and_found_in_any_case(
    store: TableSubscriptionStore, tenant_id: str
) -> None:
    someone = user()
    store.save(subscription(tenant_id.upper(), someone.upper()))
    [found] = store.of_user(tenant_id, someone)
    assert (found.tenant_id, found.user_id) == (tenant_id, someone)
    assert store.of_user(tenant_id.upper(), someone.upper()) == [found]
    assert store.get(tenant_id.upper(), found.subscription_id) == found


def test_the_row_holds_the_hash_of_the_secret_and_never_the_secret(
    store: TableSubscriptionStore, storage_clients: StorageClients, tenant_id: str
) -> None:
    secret = "the-client-state-secret-" + uuid.uuid4().hex
    saved = subscription(tenant_id, user(), client_state_sha256=client_state_hash(secret))
    store.save(saved)
    row = storage_clients.table(TABLE).get_entity(tenant_id, saved.subscription_id)
    assert row["clientStateSha256"] == client_state_hash(secret)
    assert all(secret not in str(value) for value in row.values())


def test_an_unknown_subscription_is_none(store: TableSubscriptionStore, tenant_id: str) -> None:
    assert store.get(tenant_id, str(uuid.uuid4())) is None


def test_a_subscription_is_found_only_in_its_own_tenant(
    store: TableSubscriptionStore, tenant_id: str
) -> None:
    other_tenant = str(uuid.uuid4())
    someone = user()
    mine = subscription(tenant_id, someone)
    theirs = subscription(other_tenant, someone)
    store.save(mine)
    store.save(theirs)
    assert store.of_tenant(tenant_id) == [mine]
    assert store.of_tenant(other_tenant) == [theirs]
    assert store.of_user(tenant_id, someone) == [mine]
    assert store.get(other_tenant, mine.subscription_id) is None


def test_a_users_subscriptions_are_only_their_own(store: TableSubscriptionStore, tenant_id: str) -> None:
    alice, bob = user(), user()
    alices = [subscription(tenant_id, alice, "messages"), subscription(tenant_id, alice, "events")]
    bobs = subscription(tenant_id, bob, "messages")
    for sub in [*alices, bobs]:
        store.save(sub)
    assert sorted(store.of_user(tenant_id, alice), key=lambda s: s.kind) == sorted(
        alices, key=lambda s: s.kind
    )
    assert store.of_user(tenant_id, bob) == [bobs]
    assert store.of_user(tenant_id, user()) == []
    assert len(store.of_tenant(tenant_id)) == 3


def test_a_deleted_subscription_is_gone_and_its_neighbours_stay(
    store: TableSubscriptionStore, tenant_id: str
) -> None:
    someone = user()
    gone, kept = subscription(tenant_id, someone, "messages"), subscription(tenant_id, someone, "events")
    store.save(gone)
    store.save(kept)
    store.delete(tenant_id, gone.subscription_id)
    assert store.get(tenant_id, gone.subscription_id) is None
    assert store.of_tenant(tenant_id) == [kept]


def test_deleting_what_is_not_there_is_harmless(store: TableSubscriptionStore, tenant_id: str) -> None:
    store.delete(tenant_id, str(uuid.uuid4()))
    assert store.of_tenant(tenant_id) == []


def test_tenant_ids_lists_the_tenants_holding_any_subscription(
    store: TableSubscriptionStore, tenant_id: str
) -> None:
    other_tenant = str(uuid.uuid4())
    only = subscription(tenant_id, user())
    store.save(only)
    store.save(subscription(other_tenant, user()))
    assert {tenant_id, other_tenant} <= set(store.tenant_ids())
    store.delete(tenant_id, only.subscription_id)
    assert tenant_id not in store.tenant_ids()
    assert other_tenant in store.tenant_ids()
