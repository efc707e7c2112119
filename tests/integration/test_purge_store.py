"""The purge ledger on Azurite: records read back whole, are created once, and list newest first."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters.purge_store import TablePurgeStore
from functions.adapters.storage import StorageClients
from functions.domain.errors import ConcurrencyConflict, ValidationFailed
from functions.domain.events import Provenance
from functions.domain.purge import GroupScope, PurgeStep, new_purge
from functions.domain.purge_subscriptions import GraphSubscriptions, PendingSubscription
from functions.domain.scope import Scope

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def change(at: datetime = T0) -> Provenance:
    return Provenance("admin-oid", f"evt-{uuid.uuid4()}", at, "webhook", at)


@pytest.fixture
def store(storage_clients: StorageClients) -> TablePurgeStore:
    return TablePurgeStore(storage_clients)


def test_each_kind_of_scope_reads_back_exactly(store: TablePurgeStore, tenant_id: str) -> None:
    scopes = [
        Scope("tenant", tenant_id),
        Scope("user", tenant_id, user_id=str(uuid.uuid4())),
        Scope("feature", tenant_id, feature="who_knows_whom"),
        GroupScope(tenant_id, frozenset({str(uuid.uuid4()), str(uuid.uuid4())})),
    ]
    for scope in scopes:
        record = new_purge(scope, "user-opt-out", change())
        store.create(record)
        assert store.get(tenant_id, record.id) == record


def test_creating_a_purge_twice_returns_the_first_record(store: TablePurgeStore, tenant_id: str) -> None:
    record = new_purge(Scope("tenant", tenant_id), "consent-revoked", change())
    assert store.create(record) == (record, True)
    later = replace(record, requested_at=T0 + timedelta(hours=1))
    assert store.create(later) == (record, False)


def test_purges_list_newest_request_first(store: TablePurgeStore, tenant_id: str) -> None:
    old = new_purge(Scope("tenant", tenant_id), "consent-revoked", change(T0))
    new = new_purge(
        Scope("user", tenant_id, user_id=str(uuid.uuid4())), "user-opt-out", change(T0 + timedelta(1))
    )
    store.create(old)
    store.create(new)
    assert [p.id for p in store.list(tenant_id)] == [new.id, old.id]


def test_steps_and_counts_saved_with_the_etag_read_back(store: TablePurgeStore, tenant_id: str) -> None:
    record = new_purge(Scope("tenant", tenant_id), "consent-revoked", change())
    store.create(record)
    loaded = store.load(tenant_id, record.id)
    assert loaded is not None
    assert loaded.etag is not None
    done = replace(
        record, status="verified", steps=(PurgeStep("live-deleted", T0, {"slices": 3}),), counts={"slices": 0}
    )
    store.save(done, loaded.etag)
    assert store.get(tenant_id, record.id) == done
    with pytest.raises(ConcurrencyConflict):
        store.save(done, loaded.etag)


def test_what_graph_would_not_remove_reads_back_with_the_failed_steps_error_class(
    store: TablePurgeStore, tenant_id: str
) -> None:
    record = new_purge(Scope("tenant", tenant_id), "consent-revoked", change())
    store.create(record)
    loaded = store.load(tenant_id, record.id)
    assert loaded is not None
    assert loaded.etag is not None
    failed = PurgeStep(
        "subscriptions-not-removed-at-graph", T0, {"deleted": 1, "pending": 2}, 40, "GraphError"
    )
    graph = GraphSubscriptions(
        state="pending",
        deleted=1,
        pending=(
            PendingSubscription(str(uuid.uuid4()), T0 + timedelta(days=2)),
            PendingSubscription(str(uuid.uuid4()), T0 + timedelta(hours=20)),
        ),
        unseen_until=T0 + timedelta(days=3, minutes=12),
        attempts=1,
        last_attempt_at=T0,
        last_error="GraphError",
    )
    waiting = replace(record, status="swept", steps=(failed,), graph_subscriptions=graph)
    store.save(waiting, loaded.etag)
    assert store.get(tenant_id, record.id) == waiting


def test_purges_are_paged_newest_first_with_a_continuation(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    store = TablePurgeStore(storage_clients)
    for minute in range(7):
        at = T0 + timedelta(minutes=minute)
        provenance = Provenance("admin", f"evt-{uuid.uuid4()}", at, "api", at)
        store.create(
            new_purge(Scope("user", tenant_id, user_id=str(uuid.uuid4())), "user-opt-out", provenance)
        )
    pages, continuation = [], None
    while True:
        page = store.page(tenant_id, 3, continuation)
        pages.append([r.requested_at for r in page.records])
        continuation = page.continuation
        if continuation is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [at for page in pages for at in page]
    assert flat == sorted(flat, reverse=True)
    assert len(set(flat)) == 7


def test_a_purge_continuation_of_another_tenant_or_garbage_is_refused(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    store = TablePurgeStore(storage_clients)
    for _ in range(2):
        provenance = Provenance("admin", f"evt-{uuid.uuid4()}", T0, "api", T0)
        store.create(
            new_purge(Scope("user", tenant_id, user_id=str(uuid.uuid4())), "user-opt-out", provenance)
        )
    continuation = store.page(tenant_id, 1, None).continuation
    assert continuation is not None
    with pytest.raises(ValidationFailed):
        store.page(str(uuid.uuid4()), 1, continuation)
    with pytest.raises(ValidationFailed):
        store.page(tenant_id, 1, "not-a-token")
